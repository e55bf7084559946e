#!/usr/bin/python3
"""Acceptance-set generator for video matching (vPDQ).

Builds, from videos and photos shipped in Debian 12 packages (packages.txt), with the ffmpeg command:
  bank/<name>.mp4              originals: opencv-doc's sample videos and 20 s pan-and-zoom clips made from
                               wallpaper photos (motion, slow enough that frames change like a filmed scene)
  edited/<name>__<edit>.mp4    ten reposting edits of every bank video (EDITS below)
  unrelated/<name>.mp4         clips of photos that belong to no bank video
  manifest.tsv                 set, kind, file, source, edit
Two disjoint sets: "tune" (the defaults were chosen looking at it) and "holdout" (reported, never tuned on).

Run: /usr/bin/python3 tools/acceptance/make_video_edits.py --out DIR [--set tune|holdout|all] [--jobs N]
Deterministic: every random choice comes from an RNG seeded with sha256(name|edit); x264 runs with one thread.
"""
import argparse, concurrent.futures, hashlib, os, random, subprocess, sys

OCV = "/usr/share/doc/opencv-doc/examples/data/"
BG = "/usr/share/backgrounds/"
W, H, FPS = 640, 360, 30

# set, kind, name, source ("video:PATH[@START+DURATION]" or "photo:PATH")
SPEC = [
    ("tune", "bank", "megamind", "video:" + OCV + "Megamind.avi"),
    ("tune", "bank", "tree", "video:" + OCV + "tree.avi"),
    ("tune", "bank", "aqua", "photo:" + BG + "mate/nature/Aqua.jpg"),
    ("tune", "bank", "dune", "photo:" + BG + "mate/nature/Dune.jpg"),
    ("tune", "bank", "freshflower", "photo:" + BG + "mate/nature/FreshFlower.jpg"),
    ("tune", "bank", "ladybird", "photo:" + BG + "mate/nature/LadyBird.jpg"),
    ("tune", "bank", "bridge", "photo:" + BG + "Bridge_by_Sander_Klootwijk.jpg"),
    ("tune", "bank", "dragonfly", "photo:" + BG + "Dragonfly_by_Bolly.jpg"),
    ("tune", "unrelated", "blinds", "photo:" + BG + "mate/nature/Blinds.jpg"),
    ("tune", "unrelated", "garden", "photo:" + BG + "mate/nature/Garden.jpg"),
    ("tune", "unrelated", "fossa", "photo:" + BG + "Fossa_by_Jasper_Roks.jpg"),
    ("tune", "unrelated", "infinitesea", "photo:" + BG + "Infinite-Sea_by_Aury88.jpg"),
    ("holdout", "bank", "vtest", "video:" + OCV + "vtest.avi@0+40"),
    ("holdout", "bank", "greenmeadow", "photo:" + BG + "mate/nature/GreenMeadow.jpg"),
    ("holdout", "bank", "raindrops", "photo:" + BG + "mate/nature/RainDrops.jpg"),
    ("holdout", "bank", "storm", "photo:" + BG + "mate/nature/Storm.jpg"),
    ("holdout", "bank", "twowings", "photo:" + BG + "mate/nature/TwoWings.jpg"),
    ("holdout", "bank", "kleiber", "photo:" + BG + "Kleiber_by_Lukas_Baubkus.jpg"),
    ("holdout", "bank", "aitzgorri", "photo:" + BG + "aitzgorri_by_Aitzol_Berasategi.jpg"),
    ("holdout", "bank", "sunset", "photo:" + BG + "sunset_by_Aitzol_Berasategi.jpg"),
    ("holdout", "unrelated", "wood", "photo:" + BG + "mate/nature/Wood.jpg"),
    ("holdout", "unrelated", "yellowflower", "photo:" + BG + "mate/nature/YellowFlower.jpg"),
    ("holdout", "unrelated", "picosdeeuropa", "photo:" + BG + "picosdeeuropa_by_Aitzol_Berasategi.jpg"),
    ("holdout", "unrelated", "wine", "photo:" + BG + "Wine_by_Jakkub_Mede.jpg"),
    ("holdout", "unrelated", "seeding", "photo:" + BG + "seeding_by_Clements_Engelhardt.jpg"),
    ("holdout", "unrelated", "friends", "photo:" + BG + "friends_by_Aitzol_Berasategi.jpg"),
]

EDITS = ["reencode", "halfscale", "trim", "compilation", "crop", "watermark", "grayscale", "framerate",
         "letterbox", "mirror"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1", "-an"]


def rng(*parts):
    return random.Random(hashlib.sha256("|".join(parts).encode()).digest())


def run(args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + args, check=True)


def duration(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def make_original(name, source, out):
    if os.path.exists(out) and os.path.getsize(out) > 0:
        return
    kind, _, where = source.partition(":")
    if kind == "video":
        path, _, window = where.partition("@")
        cut = []
        if window:
            start, _, length = window.partition("+")
            cut = ["-ss", start, "-t", length]
        run(cut + ["-i", path, "-vf", f"scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,fps={FPS}",
                   "-crf", "18"] + X264 + [out])
        return
    r = rng(name, "pan")
    # A slow pan and zoom over the photo: 20 s, the path drawn from the RNG.
    z0, z1 = 1.1 + 0.3 * r.random(), 1.1 + 0.3 * r.random()
    fx, fy = r.uniform(0.2, 0.8), r.uniform(0.2, 0.8)
    n = 20 * FPS
    zoom = f"{z0:.3f}+({z1 - z0:.3f})*on/{n}"
    x = f"(iw-iw/zoom)*({fx:.3f}+0.15*sin(on/{n}*3.1416))"
    y = f"(ih-ih/zoom)*({fy:.3f}+0.1*cos(on/{n}*3.1416))"
    still = out + ".still.png"  # the photo scaled once, not once per frame
    run(["-i", where, "-vf", "scale=1920:1080:force_original_aspect_ratio=increase,crop=1920:1080", "-frames:v", "1", still])
    run(["-loop", "1", "-t", "20", "-i", still, "-vf", f"zoompan=z='{zoom}':x='{x}':y='{y}':d=1:s={W}x{H}:fps={FPS}",
         "-t", "20", "-crf", "18"] + X264 + [out])
    os.remove(still)


def make_edit(name, edit, src, out, filler):
    if os.path.exists(out) and os.path.getsize(out) > 0:
        return
    r = rng(name, edit)
    d = duration(src)
    if edit == "reencode":
        run(["-i", src, "-crf", "35"] + X264 + [out])
    elif edit == "halfscale":
        run(["-i", src, "-vf", "scale=iw/2:-2"] + X264 + [out])
    elif edit == "trim":  # the middle half, from an offset that is not on the 1 s sampling grid
        start = d * r.uniform(0.2, 0.3)
        run(["-ss", f"{start:.3f}", "-t", f"{d / 2:.3f}", "-i", src] + X264 + [out])
    elif edit == "compilation":  # unrelated footage, the clip, more unrelated footage
        a, b = filler
        run(["-i", a, "-i", src, "-i", b, "-filter_complex",
             f"[0:v]trim=0:{r.uniform(6, 10):.2f},setpts=PTS-STARTPTS,scale={W}:{H},setsar=1,fps={FPS}[a];"
             f"[1:v]setpts=PTS-STARTPTS,scale={W}:{H},setsar=1,fps={FPS}[b];"
             f"[2:v]trim=0:{r.uniform(6, 10):.2f},setpts=PTS-STARTPTS,scale={W}:{H},setsar=1,fps={FPS}[c];"
             "[a][b][c]concat=n=3:v=1:a=0[v]", "-map", "[v]"] + X264 + [out])
    elif edit == "crop":  # 10-20 % of the area, off-centre
        keep = r.uniform(0.8, 0.9)
        run(["-i", src, "-vf", f"crop=iw*{keep:.3f}:ih*{keep:.3f}:iw*{r.uniform(0, 1 - keep):.3f}:ih*{r.uniform(0, 1 - keep):.3f}"]
            + X264 + [out])
    elif edit == "watermark":
        text = r.choice(["@leaked_vids", "hot clips 24/7", "t.me/privatechan", "EXCLUSIVE"])
        run(["-i", src, "-vf", f"drawbox=x=iw*0.62:y=ih*0.05:w=iw*0.33:h=ih*0.12:color=black@0.5:t=fill,"
             f"drawtext=fontfile={FONT}:text='{text}':x=w*0.64:y=h*0.08:fontsize=h/18:fontcolor=white"] + X264 + [out])
    elif edit == "grayscale":
        run(["-i", src, "-vf", "format=gray,format=yuv420p"] + X264 + [out])
    elif edit == "framerate":
        run(["-i", src, "-vf", "fps=24"] + X264 + [out])
    elif edit == "letterbox":  # into a 4:3 frame with bars, as a phone re-recording app does
        run(["-i", src, "-vf", f"scale=480:-2,pad=480:360:0:(oh-ih)/2"] + X264 + [out])
    elif edit == "mirror":
        run(["-i", src, "-vf", "hflip"] + X264 + [out])
    else:
        raise ValueError(edit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", default="all", choices=["tune", "holdout", "all"])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    for sub in ("bank", "edited", "unrelated"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    rows = [s for s in SPEC if args.set in ("all", s[0])]
    path = lambda kind, name: os.path.join(args.out, kind, name + ".mp4")
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda s: make_original(s[2], s[3], path(s[1], s[2])), rows))
        jobs = []
        for s in rows:
            if s[1] != "bank":
                continue
            fillers = [path("unrelated", u[2]) for u in rows if u[1] == "unrelated" and u[0] == s[0]]
            pick = rng(s[2], "filler").sample(fillers, 2)
            for e in EDITS:
                jobs.append((s[2], e, path("bank", s[2]), path("edited", f"{s[2]}__{e}"), pick))
        list(pool.map(lambda j: make_edit(*j), jobs))
    with open(os.path.join(args.out, "manifest.tsv"), "w") as m:
        m.write("set\tkind\tfile\tsource\tedit\n")
        for s in rows:
            m.write(f"{s[0]}\t{s[1]}\t{s[1]}/{s[2]}.mp4\t{s[2]}\t\n")
            if s[1] == "bank":
                for e in EDITS:
                    m.write(f"{s[0]}\tedited\tedited/{s[2]}__{e}.mp4\t{s[2]}\t{e}\n")
    print(f"wrote {args.out}/manifest.tsv")


if __name__ == "__main__":
    sys.exit(main())
