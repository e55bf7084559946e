#!/usr/bin/python3
"""Acceptance-set generator for the edit-robust image fingerprint (local features
+ geometric verification, and PDQ).

Builds, from images shipped in Debian 12 packages (see packages.txt / README.md):
  bank/<name>.jpg              originals (JPEG q95, long side <= 1600 px)
  edited/<name>__<edit>.jpg    14 realistic reposting edits of every bank image
  unrelated/<name>.<ext>       distractors that belong to no bank group
  manifest.tsv                 set, kind, file, source, edit
  params.tsv                   file, parameters of the edit (crop boxes, angles, ...)
  sources.tsv                  file, Debian package, original path ("generated" if made here)

Run with Debian's interpreter (needs python3-pil only):
  /usr/bin/python3 tools/acceptance/make_edits.py --out DIR [--set tune|holdout|all]
Output is deterministic: every random choice comes from an RNG seeded with
sha256(name|edit), nothing depends on time, order of runs or hash salting.
"""
import argparse, hashlib, os, random, sys, time
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

DIRS = {"ocv": "/usr/share/doc/opencv-doc/examples/", "mate": "/usr/share/backgrounds/mate/",
        "bg": "/usr/share/backgrounds/", "gnome": "/usr/share/backgrounds/gnome/",
        "deb": "/usr/share/desktop-base/", "adw": "/usr/share/icons/Adwaita/512x512/",
        "tux": "/usr/share/tuxpaint/stamps/", "plasma": "/usr/share/wallpapers/"}
FONTS = "/usr/share/fonts/truetype/dejavu/"
MAX_SIDE, MIN_SIDE = 1600, 200

# One line: set, kind, Debian package, name prefix, base dir, then files as rel[=alias][@overlay-edit].
# Same-scene partners (aloeR, leuvenB, graf3, rubberwhale2, ela_modified, right.jpg, aero3,
# basketball2, Blender_Suzanne2, box_in_scene, right01..14) and duplicate sizes/tints of one
# wallpaper (Elephants_*, Ubuntu-Mate-{Dark,Warm,Radioactive}, MATE-Stripes-Light, gnome *-l/*-d
# twins, desktop-base sddm previews) are left out on purpose.  "overlay" rows are photos used
# nowhere else that get exactly the overlay the edits put on bank images (shared-overlay risk).
# The tux and kde holdout rows (session 12) widen the holdout's unrelated images past 100 000 pairs: Tux
# Paint's stamps of at least 200 px (photos and drawings cut out, flattened on white; of each family of
# variants, a mirrored copy, a recoloured or re-posed one, only one is kept) and one landscape image of each
# Plasma wallpaper. Never tuned on.
SPEC = """
tune bank opencv-doc ocv ocv data/aloeL.jpg data/apple.jpg data/baboon.jpg data/board.jpg data/building.jpg
tune bank opencv-doc ocv ocv data/butterfly.jpg data/chicky_512.png data/fruits.jpg data/graf1.png data/leuvenA.jpg
tune bank opencv-doc ocv ocv data/orange.jpg data/rubberwhale1.png data/smarties.png data/squirrel_cls.jpg
tune bank opencv-doc ocv ocv data/starry_night.jpg alphamat/input_images/plant.jpg text/scenetext01.jpg
tune bank opencv-doc ocv ocv text/scenetext02.jpg
tune bank mate-backgrounds mate mate nature/Aqua.jpg nature/Dune.jpg nature/FreshFlower.jpg nature/LadyBird.jpg
holdout bank opencv-doc ocv ocv data/home.jpg=palace data/messi5.jpg data/stuff.jpg data/ela_original.jpg
holdout bank opencv-doc ocv ocv data/left.jpg=books hfs/data/000.jpg=robin reg/home.png=brickhouse
holdout bank opencv-doc ocv ocv dnn_superres/butterfly.png=monarch text/scenetext04.jpg text/scenetext06.jpg
holdout bank lomiri-wallpapers-16.04 lom bg Bridge_by_Sander_Klootwijk.jpg=Bridge Dragonfly_by_Bolly.jpg=Dragonfly
holdout bank lomiri-wallpapers-16.04 lom bg Picture_0B_by_freespace.jpg=Picture_0B Wine_by_Jakkub_Mede.jpg=Wine
holdout bank lomiri-wallpapers-16.04 lom bg Picture_1A_by_freespace.jpg=Picture_1A free_by_Peter_Nerlich.jpg=free
holdout bank lomiri-wallpapers-16.04 lom bg aitzgorri_by_Aitzol_Berasategi.jpg=aitzgorri
holdout bank lomiri-wallpapers-16.04 lom bg friends_by_Aitzol_Berasategi.jpg=friends
holdout bank lomiri-wallpapers-16.04 lom bg life_by_Aitzol_Berasategi.jpg=life
holdout bank lomiri-wallpapers-16.04 lom bg greentock_by_Peter_Nerlich.jpg=greentock
holdout bank lomiri-wallpapers-16.04 lom bg seeding_by_Clements_Engelhardt.jpg=seeding
holdout bank lomiri-wallpapers-20.04 lom bg Kleiber_by_Lukas_Baubkus.jpg=Kleiber
tune unrelated opencv-doc ocv ocv data/left01.jpg data/left02.jpg data/left03.jpg data/left04.jpg data/left05.jpg
tune unrelated opencv-doc ocv ocv data/left06.jpg data/left07.jpg data/aero1.jpg data/basketball1.png
tune unrelated opencv-doc ocv ocv data/licenseplate_motion.jpg data/sudoku.png data/text_defocus.jpg data/pic1.png
tune unrelated opencv-doc ocv ocv data/pic2.png data/pic4.png data/cards.png data/detect_blob.png
tune unrelated opencv-doc ocv ocv fuzzy/input.png=anime text/scenetext03.jpg text/scenetext_segmented_word01.jpg
tune unrelated opencv-doc ocv ocv text/scenetext_segmented_word02.jpg
tune unrelated mate-backgrounds mate mate nature/GreenMeadow.jpg nature/RainDrops.jpg nature/YellowFlower.jpg
tune unrelated mate-backgrounds mate mate nature/TwoWings.jpg abstract/Flow.png abstract/Gulp.png abstract/Silk.png
tune unrelated mate-backgrounds mate mate abstract/Spring.png desktop/Ubuntu-Mate-Cold-no-logo.png
tune unrelated mate-backgrounds mate mate desktop/MATE-Stripes-Dark.png
tune unrelated gnome-backgrounds gnome gnome adwaita-l.webp grid-d.webp licorice-l.webp pixels-d.webp
tune unrelated desktop-base deb deb emerald-theme/grub/grub-16x9.png=emerald joy-theme/grub/grub-16x9.png=joy
tune unrelated desktop-base deb deb futureprototype-theme/grub/grub-16x9.png=futureprototype
tune unrelated desktop-base deb deb homeworld-theme/grub/grub-16x9.png=homeworld
tune unrelated ukui-wallpapers ukui bg 2004default.jpg calla.png city.png desert.png firstgeneration.jpg
tune unrelated ukui-wallpapers ukui bg fluent-color.png
tune unrelated adwaita-icon-theme icon adw devices/computer.png devices/printer.png devices/input-gaming.png
tune unrelated adwaita-icon-theme icon adw devices/camera-web.png places/folder-music.png
tune unrelated adwaita-icon-theme icon adw mimetypes/x-office-spreadsheet.png
tune overlay mate-backgrounds mate mate nature/Blinds.jpg@caption_bar nature/Garden.jpg@text_overlay
tune overlay mate-backgrounds mate mate nature/Wood.jpg@logo
tune overlay opencv-doc ocv ocv hfs/data/001.jpg=lake@combo
holdout unrelated opencv-doc ocv ocv data/left08.jpg data/left09.jpg data/left11.jpg data/left12.jpg data/left13.jpg
holdout unrelated opencv-doc ocv ocv data/left14.jpg data/text_motion.jpg data/pca_test1.jpg data/pic3.png
holdout unrelated opencv-doc ocv ocv data/pic5.png data/pic6.png data/digits.png hfs/data/002.jpg=tree
holdout unrelated opencv-doc ocv ocv text/scenetext05.jpg text/scenetext_segmented_word04.jpg
holdout unrelated opencv-doc ocv ocv text/scenetext_segmented_word05.jpg ximgproc/stanford.png=mapshot
holdout unrelated lomiri-wallpapers-16.04 lom bg picosdeeuropa_by_Aitzol_Berasategi.jpg=picosdeeuropa
holdout unrelated lomiri-wallpapers-16.04 lom bg sunset_by_Aitzol_Berasategi.jpg=sunset
holdout unrelated lomiri-wallpapers-16.04 lom bg analogpattern_by_Peter_Nerlich.jpg=analogpattern
holdout unrelated lomiri-wallpapers-16.04 lom bg umang_by_Abhishek_Mudgal.jpg=umang
holdout unrelated lomiri-wallpapers-20.04 lom bg Infinite-Sea_by_Aury88.jpg=InfiniteSea Fossa_by_Jasper_Roks.jpg=Fossa
holdout unrelated lomiri-wallpapers-20.04 lom bg Painting-Colors_by__herobrine7gamer.jpg=PaintingColors
holdout unrelated lomiri-wallpapers lom bg warty-final-ubuntu.png=warty
holdout unrelated mate-backgrounds mate mate abstract/Waves.png
holdout unrelated mate-backgrounds mate mate abstract/Arc-Colors-Transparent-Wallpaper.png=ArcColors
holdout unrelated mate-backgrounds mate mate desktop/GreenTraditional.jpg desktop/Float-into-MATE.png
holdout unrelated mate-backgrounds mate mate desktop/Stripes.png abstract/Elephants.jpg
holdout unrelated gnome-backgrounds gnome gnome symbolic-l.webp truchet-d.webp wood-l.webp
holdout unrelated desktop-base deb deb lines-theme/grub/grub-16x9.png=lines
holdout unrelated desktop-base deb deb moonlight-theme/grub/grub-16x9.png=moonlight
holdout unrelated desktop-base deb deb softwaves-theme/grub/grub-16x9.png=softwaves
holdout unrelated desktop-base deb deb spacefun-theme/grub/grub-16x9.png=spacefun
holdout unrelated ukui-wallpapers ukui bg focal-ubuntukylin.png goldfish.png rhythm.jpg rollpaper.png string.jpg
holdout unrelated ukui-wallpapers ukui bg the-mouse.jpg
holdout unrelated adwaita-icon-theme icon adw devices/audio-headphones.png devices/phone.png
holdout unrelated adwaita-icon-theme icon adw devices/drive-harddisk.png devices/input-keyboard.png
holdout unrelated adwaita-icon-theme icon adw places/user-home.png mimetypes/x-office-presentation.png
holdout unrelated tuxpaint-stamps-default tux tux animals/birds/albino_peahen.png animals/birds/cartoon/tux.png animals/birds/crowned_crane.png animals/birds/helmeted_guineafowl.png animals/birds/pelican.png
holdout unrelated tuxpaint-stamps-default tux tux animals/birds/pink_flamingo.png animals/fish/lobster.png animals/insects/Brown_slug.png animals/insects/Woodlouse.png animals/insects/bee.png
holdout unrelated tuxpaint-stamps-default tux tux animals/insects/cartoon/ladybug.png animals/insects/cartoon/snail2.png animals/insects/cartoon/spider_computer.png animals/insects/cartoon/wings.png animals/insects/fly.png
holdout unrelated tuxpaint-stamps-default tux tux animals/insects/mantis.png animals/mammals/aquatic/otter.png animals/mammals/bears/cartoon/teddy_bear.png animals/mammals/bears/european-bear.png animals/mammals/bovines/bull.png
holdout unrelated tuxpaint-stamps-default tux tux animals/mammals/bovines/gnu-baby.png animals/mammals/bovines/indian_blackbuck.png animals/mammals/hedgehog.png clothes/hats/blue_fedora.png clothes/hats/feathered_hat.png
holdout unrelated tuxpaint-stamps-default tux tux clothes/hats/propeller_hat.png clothes/hats/sombrero.png clothes/hats/tophat.png clothes/t_jacket.png clothes/t_pants.png
holdout unrelated tuxpaint-stamps-default tux tux clothes/t_scarf.png clothes/t_shirt.png food/dessert/cartoon/birthday_cake.png food/fruit/Apricot_whole.png food/fruit/Cherry_Stella.png
holdout unrelated tuxpaint-stamps-default tux tux food/fruit/Strawberry2.png food/fruit/avocado.png food/fruit/cartoon/apple.png food/fruit/cartoon/banana.png food/fruit/cartoon/cherries.png
holdout unrelated tuxpaint-stamps-default tux tux food/fruit/cartoon/grapes.png food/fruit/cartoon/lemon.png food/fruit/cartoon/orange.png food/fruit/cartoon/peach.png food/fruit/cartoon/pear.png
holdout unrelated tuxpaint-stamps-default tux tux food/fruit/cartoon/pineapple.png food/fruit/cartoon/prune.png food/fruit/cartoon/strawberry.png food/fruit/cherimoya.png food/fruit/kiwi.png
holdout unrelated tuxpaint-stamps-default tux tux food/fruit/orange_seville.png food/pizza.png food/spices/ginger.png household/Lightbulb.png household/dishes/glass.png
holdout unrelated tuxpaint-stamps-default tux tux household/toilet.png household/tools/cementmixer.png household/tools/spade.png medical/stethoscope.png military/final-roll-call.png
holdout unrelated tuxpaint-stamps-default tux tux military/fireman240a.png military/paratrooper.png military/vehicles/bradley.png military/vehicles/f22_raptor.png military/vehicles/infantry-stryker.png
holdout unrelated tuxpaint-stamps-default tux tux naturalforces/explosion.png naturalforces/fire.png naturalforces/lightningbolt.png people/body_parts/eye.png people/cartoon/mermaid.png
holdout unrelated tuxpaint-stamps-default tux tux people/cartoon/snowman.png plants/flowers/anemone_red.png plants/flowers/daffodil.png plants/trees/birch.png plants/trees/holm_oak.png
holdout unrelated tuxpaint-stamps-default tux tux plants/trees/liberia-palm.png plants/trees/rambutan.png plants/trees/tree336.png seasonal/christmas/Christmas_pudding.png seasonal/christmas/Mince_Pie.png
holdout unrelated tuxpaint-stamps-default tux tux seasonal/christmas/Roast_turkey.png seasonal/christmas/candy_cane.png seasonal/christmas/tree.png seasonal/easter/chick-hatched.png seasonal/halloween/jackolantern_mean.png
holdout unrelated tuxpaint-stamps-default tux tux seasonal/hanukkah/menorah.png space/planets/0_sun.png space/planets/5_jupiter.png sports/cartoon/volleyball.png symbols/alphabets/asl/asl_a.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/alphabets/asl/asl_c.png symbols/alphabets/asl/asl_e.png symbols/alphabets/asl/asl_f.png symbols/alphabets/asl/asl_g.png symbols/alphabets/asl/asl_h.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/alphabets/asl/asl_i.png symbols/alphabets/asl/asl_j.png symbols/alphabets/asl/asl_l.png symbols/alphabets/asl/asl_m.png symbols/alphabets/asl/asl_n.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/alphabets/asl/asl_o.png symbols/alphabets/asl/asl_p.png symbols/alphabets/asl/asl_q.png symbols/alphabets/asl/asl_s.png symbols/alphabets/asl/asl_w.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/alphabets/asl/asl_x.png symbols/alphabets/asl/asl_y.png symbols/alphabets/asl/asl_z.png symbols/alphabets/asl/asl_zzz_3.png symbols/alphabets/asl/asl_zzz_4.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/alphabets/asl/asl_zzz_5.png symbols/alphabets/asl/asl_zzz_7.png symbols/alphabets/asl/asl_zzz_8.png symbols/alphabets/asl/asl_zzz_9.png symbols/clockface.png
holdout unrelated tuxpaint-stamps-default tux tux symbols/shapes/scream_balloon.png town/cartoon/docks.png town/cartoon/fountain.png town/cartoon/gate.png town/cartoon/mine.png
holdout unrelated tuxpaint-stamps-default tux tux town/cartoon/ruins.png town/cartoon/shipwreck.png town/cartoon/watch_tower.png town/cartoon/wishing_well.png town/houses/cartoon/blacksmith.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/cathedral.png town/houses/cartoon/cave_entrance.png town/houses/cartoon/circus.png town/houses/cartoon/city.png town/houses/cartoon/cityhouse.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/fairytale_castle.png town/houses/cartoon/farm.png town/houses/cartoon/fishery.png town/houses/cartoon/fort.png town/houses/cartoon/fortress.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/hunter.png town/houses/cartoon/igloo.png town/houses/cartoon/inn.png town/houses/cartoon/jailhouse.png town/houses/cartoon/medieval_tent.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/monastery.png town/houses/cartoon/pinkhome.png town/houses/cartoon/stables.png town/houses/cartoon/swisshome.png town/houses/cartoon/tavern.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/tent.png town/houses/cartoon/tepee.png town/houses/cartoon/tower_flag_red.png town/houses/cartoon/tower_round.png town/houses/cartoon/tower_square.png
holdout unrelated tuxpaint-stamps-default tux tux town/houses/cartoon/townhall.png town/houses/cartoon/university.png town/houses/cartoon/warehouse.png town/houses/cartoon/windmill.png town/houses/cartoon/wooden_cottage.png
holdout unrelated tuxpaint-stamps-default tux tux town/monuments/cartoon/eiffel_tower.png town/monuments/cartoon/graveyard.png town/monuments/cartoon/magic_stones.png town/monuments/cartoon/obelisk.png town/monuments/cartoon/pyramid.png
holdout unrelated tuxpaint-stamps-default tux tux town/monuments/cartoon/statue.png town/monuments/cartoon/sword_in_the_stone.png town/monuments/cartoon/totem.png town/monuments/inukshuk-photo.png town/roadsigns/railroad_crossing.png
holdout unrelated tuxpaint-stamps-default tux tux vehicles/7spoke256.png vehicles/construction/dumper.png vehicles/emergency/firetruck.png vehicles/flight/balloon360.png vehicles/flight/planes/747.png
holdout unrelated tuxpaint-stamps-default tux tux vehicles/garbagetruck.png vehicles/race/indycar.png vehicles/wheel_tractor.png
holdout unrelated plasma-workspace-wallpapers kde plasma Altai/contents/images/5120x2880.png=Altai
holdout unrelated plasma-workspace-wallpapers kde plasma Autumn/contents/images/1920x1080.jpg=Autumn
holdout unrelated plasma-workspace-wallpapers kde plasma BytheWater/contents/images/1920x1080.jpg=BytheWater
holdout unrelated plasma-workspace-wallpapers kde plasma Canopee/contents/images/3840x2160.png=Canopee
holdout unrelated plasma-workspace-wallpapers kde plasma Cascade/contents/images/3840x2160.png=Cascade
holdout unrelated plasma-workspace-wallpapers kde plasma Cluster/contents/images/3840x2160.png=Cluster
holdout unrelated plasma-workspace-wallpapers kde plasma ColdRipple/contents/images/1920x1080.jpg=ColdRipple
holdout unrelated plasma-workspace-wallpapers kde plasma ColorfulCups/contents/images/2560x1600.jpg=ColorfulCups
holdout unrelated plasma-workspace-wallpapers kde plasma DarkestHour/contents/images/1920x1080.jpg=DarkestHour
holdout unrelated plasma-workspace-wallpapers kde plasma Elarun/contents/images/2560x1600.png=Elarun
holdout unrelated plasma-workspace-wallpapers kde plasma EveningGlow/contents/images/1920x1080.jpg=EveningGlow
holdout unrelated plasma-workspace-wallpapers kde plasma FallenLeaf/contents/images/1920x1080.jpg=FallenLeaf
holdout unrelated plasma-workspace-wallpapers kde plasma Flow/contents/images/5120x2880.jpg=Flow
holdout unrelated plasma-workspace-wallpapers kde plasma FlyingKonqui/contents/images/1920x1080.png=FlyingKonqui
holdout unrelated plasma-workspace-wallpapers kde plasma Grey/contents/images/1920x1080.jpg=Grey
holdout unrelated plasma-workspace-wallpapers kde plasma Honeywave/contents/images/5120x2880.jpg=Honeywave
holdout unrelated plasma-workspace-wallpapers kde plasma IceCold/contents/images/5120x2880.png=IceCold
holdout unrelated plasma-workspace-wallpapers kde plasma Kay/contents/images/5120x2880.png=Kay
holdout unrelated plasma-workspace-wallpapers kde plasma Kite/contents/images/1920x1080.jpg=Kite
holdout unrelated plasma-workspace-wallpapers kde plasma Kokkini/contents/images/3840x2160.png=Kokkini
holdout unrelated plasma-workspace-wallpapers kde plasma MilkyWay/contents/images/5120x2880.png=MilkyWay
holdout unrelated plasma-workspace-wallpapers kde plasma OneStandsOut/contents/images/1920x1080.jpg=OneStandsOut
holdout unrelated plasma-workspace-wallpapers kde plasma Opal/contents/images/3840x2160.png=Opal
holdout unrelated plasma-workspace-wallpapers kde plasma PastelHills/contents/images/1920x1080.jpg=PastelHills
holdout unrelated plasma-workspace-wallpapers kde plasma Patak/contents/images/5120x2880.png=Patak
holdout unrelated plasma-workspace-wallpapers kde plasma Path/contents/images/1920x1080.jpg=Path
holdout unrelated plasma-workspace-wallpapers kde plasma SafeLanding/contents/images/5120x2880.jpg=SafeLanding
holdout unrelated plasma-workspace-wallpapers kde plasma Shell/contents/images/5120x2880.jpg=Shell
holdout unrelated plasma-workspace-wallpapers kde plasma Volna/contents/images/5120x2880.jpg=Volna
holdout unrelated plasma-workspace-wallpapers kde plasma summer_1am/contents/images/1920x1080.jpg=summer_1am
holdout overlay opencv-doc ocv ocv text/scenetext_segmented_word03.jpg@caption_bar data/box.png@logo
holdout overlay opencv-doc ocv ocv data/Blender_Suzanne1.jpg@text_overlay data/ellipses.jpg@combo
"""


def sources(set_, kind):
    """[(name, path, package, overlay_edit)] for one set and kind (bank|unrelated|overlay)."""
    out = []
    for line in SPEC.strip().splitlines():
        s, k, pkg, tag, base, *items = line.split()
        if (s, k) != (set_, kind):
            continue
        for item in items:
            item, _, edit = item.partition("@")
            rel, _, alias = item.partition("=")
            stem = alias or os.path.splitext(os.path.basename(rel))[0]
            out.append((f"{tag}_{stem}", DIRS[base] + rel, pkg, edit))
    return out


TEXT_LINES = ["WHEN YOU FINALLY", "FIND THE ORIGINAL", "SHARE IF YOU AGREE"]
CAPTION = "me explaining to my friends why this photo is definitely not a repost"
COMBO_TEXT = "no way this is real"
LOGO_TEXT, LOGO_RGBA = "NEWS24", (214, 32, 48, 185)
WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there one all we can has been if more when will would who so no time "
         "people year way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system question work number night point home water room "
         "mother area money story fact month book eye job word").split()
EDITS = ["crop_asym", "crop_corner", "crop_heavy", "text_overlay", "logo", "caption_bar", "letterbox",
         "screenshot", "mirror", "mirror_crop", "rotate", "rescale_jpeg", "filter", "combo"]


def rng_for(*parts):
    return random.Random(int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:16], 16))


def font(size, name="DejaVuSans-Bold.ttf"):
    return ImageFont.truetype(FONTS + name, max(6, int(size)))


def load(path):
    """Open, fix orientation, flatten alpha on white, cap the long side at MAX_SIDE."""
    im = Image.open(path)
    scale = min(1.0, MAX_SIDE / max(im.size))
    target = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    if im.format == "JPEG" and scale < 1:
        im.draft("RGB", target)  # DCT-domain pre-shrink, still >= target
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(flat, im)
    im = im.convert("RGB")
    if im.size != target:
        im = im.resize(target, Image.LANCZOS)
    return im


def fit(draw, text, maxw, size, name="DejaVuSans-Bold.ttf"):
    f = font(size, name)
    while draw.textlength(text, font=f) > maxw and f.size > 6:
        f = font(f.size * 0.92, name)
    return f


def wrap(draw, text, f, maxw):
    lines, cur = [], ""
    for w in text.split():
        cand = (cur + " " + w).strip()
        if cur and draw.textlength(cand, font=f) > maxw:
            lines.append(cur)
            cur = w
        else:
            cur = cand
    return lines + [cur]


def crop_frac(im, l, t, r, b):
    W, H = im.size
    box = (round(W * l), round(H * t), round(W * (1 - r)), round(H * (1 - b)))
    return im.crop(box), "box=%d,%d,%d,%d" % box


def asym_fracs(rng, area_removed):
    keep = 1 - area_removed
    kw = keep ** rng.uniform(0.3, 0.7)
    kh = keep / kw
    u, v = rng.random(), rng.random()
    return (1 - kw) * u, (1 - kh) * v, (1 - kw) * (1 - u), (1 - kh) * (1 - v)


def outlined(draw, xy, text, f, anchor="mm"):
    draw.text(xy, text, font=f, fill="white", anchor=anchor,
              stroke_width=max(2, f.size // 12), stroke_fill=(20, 20, 20))


def e_crop_asym(im, rng):
    return crop_frac(im, *asym_fracs(rng, rng.uniform(0.05, 0.35)))


def e_crop_corner(im, rng):
    a = rng.uniform(0.65, 0.80)
    kw = rng.uniform(a ** 0.5 - 0.08, min(0.97, a ** 0.5 + 0.08))
    kh = a / kw
    cx, cy = rng.choice([(0, 0), (1, 0), (0, 1), (1, 1)])
    r = crop_frac(im, (1 - kw) * cx, (1 - kh) * cy, (1 - kw) * (1 - cx), (1 - kh) * (1 - cy))
    return r[0], r[1] + " corner=%d%d" % (cx, cy)


def e_crop_heavy(im, rng):
    k = rng.uniform(0.62, 0.68) ** 0.5
    kw = k * rng.uniform(0.95, 1.05)
    kh = k * k / kw
    u, v = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)
    return crop_frac(im, (1 - kw) * u, (1 - kh) * v, (1 - kw) * (1 - u), (1 - kh) * (1 - v))


def e_text_overlay(im, rng):
    im = im.copy()
    d = ImageDraw.Draw(im)
    W, H = im.size
    lines = TEXT_LINES[:rng.choice([2, 3])]
    f = fit(d, max(lines, key=len), 0.92 * W, H * rng.uniform(0.06, 0.08))
    step = f.size * 1.25
    y0 = H / 2 - step * (len(lines) - 1) / 2 + rng.uniform(-0.08, 0.08) * H
    for i, line in enumerate(lines):
        outlined(d, (W / 2, y0 + i * step), line, f)
    return im, "lines=%d size=%d" % (len(lines), f.size)


def e_logo(im, rng):
    W, H = im.size
    lw = max(24, round(W * rng.uniform(0.11, 0.13)))
    lh = round(lw * 0.42)
    layer = Image.new("RGBA", (lw, lh), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    d.rounded_rectangle((0, 0, lw - 1, lh - 1), radius=lh // 4, fill=LOGO_RGBA)
    d.ellipse((lh * 0.15, lh * 0.15, lh * 0.85, lh * 0.85), fill=(255, 255, 255, 220))
    f = fit(d, LOGO_TEXT, lw - lh * 1.05, lh * 0.5)
    d.text((lh * 0.95, lh / 2), LOGO_TEXT, font=f, fill=(255, 255, 255, 235), anchor="lm")
    m = round(0.03 * W)
    cx, cy = rng.choice([(0, 0), (1, 0), (0, 1), (1, 1)])
    pos = (m if cx == 0 else W - lw - m, m if cy == 0 else H - lh - m)
    out = im.convert("RGBA")
    out.alpha_composite(layer, pos)
    return out.convert("RGB"), "logo=%d,%d,%d,%d" % (pos[0], pos[1], lw, lh)


def e_caption_bar(im, rng):
    W, H = im.size
    bar = round(H * rng.uniform(0.16, 0.20))
    out = Image.new("RGB", (W, H + bar), "white")
    out.paste(im, (0, bar))
    d = ImageDraw.Draw(out)
    f = font(bar * 0.38)
    while True:
        lines = wrap(d, CAPTION, f, 0.94 * W)
        if len(lines) * f.size * 1.2 <= 0.9 * bar or f.size <= 6:
            break
        f = font(f.size * 0.9)
    y0 = bar / 2 - f.size * 1.2 * (len(lines) - 1) / 2
    for i, line in enumerate(lines):
        d.text((W / 2, y0 + i * f.size * 1.2), line, font=f, fill="black", anchor="mm")
    return out, "bar=%d" % bar


def e_letterbox(im, rng):
    W, H = im.size
    cw, ch = (round(H * 16 / 9), H) if W / H < 1.7 else (W, W)
    out = Image.new("RGB", (cw, ch), "black")
    out.paste(im, ((cw - W) // 2, (ch - H) // 2))
    s = min(1.0, MAX_SIDE / max(cw, ch))
    if s < 1:
        out = out.resize((round(cw * s), round(ch * s)), Image.LANCZOS)
    return out, "canvas=%dx%d offset=%d,%d scale=%.4f" % (cw, ch, (cw - W) // 2, (ch - H) // 2, s)


def e_screenshot(im, rng):
    s = rng.uniform(0.45, 0.55)
    sw, sh = round(im.width * s), round(im.height * s)
    m = max(6, round(sw * 0.04))
    fw = sw + 2 * m
    status, appbar, user, foot = (round(fw * k) for k in (0.06, 0.12, 0.12, 0.42))
    fh = max(round(fw * 19.5 / 9), status + appbar + user + sh + foot)
    bg = rng.choice([(255, 255, 255), (242, 242, 242), (230, 232, 236)])
    out = Image.new("RGB", (fw, fh), bg)
    d = ImageDraw.Draw(out)
    small, mid = font(status * 0.55, "DejaVuSans.ttf"), font(appbar * 0.38)
    d.rectangle((0, 0, fw, status), fill=(25, 25, 28))
    d.text((m, status / 2), "%d:%02d" % (rng.randint(7, 23), rng.randrange(60)), font=small,
           fill="white", anchor="lm")
    d.rectangle((fw - m - status, status * 0.3, fw - m, status * 0.7), outline="white", fill=(120, 220, 120))
    accent = rng.choice([(59, 89, 152), (255, 255, 255), (29, 161, 242)])
    d.rectangle((0, status, fw, status + appbar), fill=accent)
    ink = "black" if accent == (255, 255, 255) else "white"
    d.text((m, status + appbar / 2), "<  Feed", font=mid, fill=ink, anchor="lm")
    d.line((0, status + appbar, fw, status + appbar), fill=(200, 200, 200), width=max(1, fw // 400))
    y = status + appbar
    r = user * 0.35
    d.ellipse((m, y + user / 2 - r, m + 2 * r, y + user / 2 + r), fill=(180, 120, 200))
    d.text((m + 2.5 * r, y + user / 2), "user_%04d" % rng.randrange(10000), font=small, fill="black", anchor="lm")
    out.paste(im.resize((sw, sh), Image.LANCZOS), (m, y + user))
    y += user + sh + m
    bw = (fw - 4 * m) / 3
    for i, lab in enumerate(["Like", "Comment", "Share"]):
        x = m + i * (bw + m)
        d.rounded_rectangle((x, y, x + bw, y + appbar * 0.6), radius=appbar * 0.15, fill=(225, 228, 232))
        d.text((x + bw / 2, y + appbar * 0.3), lab, font=small, fill=(60, 60, 60), anchor="mm")
    y += appbar * 0.6 + m
    body = font(status * 0.5, "DejaVuSans.ttf")
    for _ in range(3):
        line = rng.choice(WORDS)
        while d.textlength(line + " wwwwwwww", font=body) < fw - 2 * m:
            line += " " + rng.choice(WORDS)
        d.text((m, y), line, font=body, fill=(70, 70, 70))
        y += body.size * 1.5
    d.rectangle((m, y + m, fw - m, fh), fill=(205, 208, 212))  # next post, cut off
    return out, "scale=%.4f offset=%d,%d frame=%dx%d" % (s, m, status + appbar + user, fw, fh)


def e_mirror(im, rng):
    return ImageOps.mirror(im), ""


def e_mirror_crop(im, rng):
    out, p = crop_frac(ImageOps.mirror(im), *asym_fracs(rng, 0.10))
    return out, "mirrored " + p


def e_rotate(im, rng):
    a = rng.uniform(3, 10) * rng.choice([-1, 1])
    out = im.rotate(a, resample=Image.BICUBIC, expand=False, fillcolor=(0, 0, 0))
    out, p = crop_frac(out, 0.075, 0.075, 0.075, 0.075)
    return out, "angle=%.3f %s" % (a, p)


def e_rescale_jpeg(im, rng):
    return im.resize((max(1, round(im.width * 0.4)), max(1, round(im.height * 0.4))), Image.BICUBIC), "scale=0.4"


def e_filter(im, rng):
    kind = rng.choice(["saturation", "sepia", "brightness", "warm"])
    if kind == "saturation":
        out = ImageEnhance.Color(im).enhance(1.6)
    elif kind == "sepia":
        out = ImageOps.colorize(ImageOps.grayscale(im), (35, 22, 10), (255, 242, 210), mid=(160, 118, 74))
    elif kind == "brightness":
        out = ImageEnhance.Brightness(im).enhance(1.2)
    else:
        r, g, b = im.split()
        out = ImageEnhance.Contrast(Image.merge("RGB", (r.point(lambda x: min(255, int(x * 1.12))), g,
                                                        b.point(lambda x: int(x * 0.85))))).enhance(1.15)
    return out, kind


def e_combo(im, rng):
    out, p = crop_frac(im, *asym_fracs(rng, 0.15))
    d = ImageDraw.Draw(out)
    W, H = out.size
    f = fit(d, COMBO_TEXT, 0.9 * W, H * 0.07)
    outlined(d, (W / 2, H - 0.6 * f.size - 0.04 * H), COMBO_TEXT, f, anchor="ms")
    radius = max(0.6, min(W, H) / 900)
    return out.filter(ImageFilter.GaussianBlur(radius)), "%s blur=%.2f" % (p, radius)


QUALITY = {"screenshot": 80, "rescale_jpeg": 50, "combo": 60}


def apply_edit(im, name, edit):
    out, params = globals()["e_" + edit](im, rng_for(name, edit))
    return out, params, QUALITY.get(edit, 85)


def gen_flat(rng, i):
    size = rng.choice([(1200, 800), (800, 800), (1080, 1920), (1600, 900)])
    c1 = tuple(rng.randrange(30, 226) for _ in range(3))
    if i < 3:
        return Image.new("RGB", size, c1), "solid %s" % (c1,)
    c2 = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in c1)
    kind = ["linear_v", "linear_h", "radial"][i - 3]
    g = Image.radial_gradient("L") if kind == "radial" else Image.linear_gradient("L")
    g = g.resize(size, Image.BICUBIC) if kind != "linear_h" else g.rotate(90).resize(size, Image.BICUBIC)
    return Image.composite(Image.new("RGB", size, c2), Image.new("RGB", size, c1), g), "%s %s->%s" % (kind, c1, c2)


def gen_textpage(rng):
    W, H = rng.choice([(1240, 1754), (1000, 1300), (1080, 1500)])
    face = rng.choice(["DejaVuSerif.ttf", "DejaVuSans.ttf"])
    page = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(page)
    size, m = rng.randint(20, 30), round(W * 0.09)
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).title()
    d.text((m, m), title, font=font(size * 1.6, face.replace(".ttf", "-Bold.ttf")), fill="black")
    y, f = m + size * 3.5, font(size, face)
    while y < H - m - size * 4:
        sent = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
                for _ in range(rng.randint(3, 6))]
        for line in wrap(d, " ".join(sent), f, W - 2 * m):
            if y > H - m - size:
                break
            d.text((m, y), line, font=f, fill=(15, 15, 15))
            y += size * 1.45
        y += size * 1.2
    return page, "%s %dpx" % (face, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", choices=["tune", "holdout", "all"], default="all")
    args = ap.parse_args()
    sets = ["tune", "holdout"] if args.set == "all" else [args.set]
    missing = [p for s in sets for k in ("bank", "unrelated", "overlay") for _, p, _, _ in sources(s, k)
               if not os.path.exists(p)]
    if missing:
        sys.exit("missing source files (install tools/acceptance/packages.txt):\n  " + "\n  ".join(missing))
    for sub in ("bank", "edited", "unrelated"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    manifest, params, origins = [], [], []
    t0 = time.time()

    def save(img, rel, quality=None, set_="", kind="", source="", edit="", param="", origin=("generated", "")):
        path = os.path.join(args.out, rel)
        if rel.endswith(".png"):
            img.save(path, optimize=False)
        else:
            img.save(path, quality=quality, subsampling=0 if quality >= 90 else 2)
        manifest.append((set_, kind, rel, source, edit))
        params.append((rel, param))
        origins.append((rel,) + origin)

    for s in sets:
        for name, path, pkg, _ in sources(s, "bank"):
            im = load(path)
            if min(im.size) < MIN_SIDE:
                print("skip (too small): " + path, file=sys.stderr)
                continue
            bank = "bank/%s.jpg" % name
            save(im, bank, 95, s, "bank", origin=(pkg, path))
            for edit in EDITS:
                out, p, q = apply_edit(im, name, edit)
                save(out, "edited/%s__%s.jpg" % (name, edit), q, s, "edited", bank, edit, p, (pkg, path))
            print("[%6.1fs] %s bank %s" % (time.time() - t0, s, name), flush=True)
        for name, path, pkg, _ in sources(s, "unrelated"):
            im = load(path)
            if min(im.size) < MIN_SIDE:
                print("skip (too small): " + path, file=sys.stderr)
                continue
            png = pkg == "adwaita-icon-theme" or (path.endswith(".png") and im.getcolors(4096) is not None)
            save(im, "unrelated/%s.%s" % (name, "png" if png else "jpg"), 95, s, "unrelated", origin=(pkg, path))
        for name, path, pkg, edit in sources(s, "overlay"):
            out, p, q = apply_edit(load(path), name, edit)
            save(out, "unrelated/%s__%s.jpg" % (name, edit), q, s, "unrelated", "", edit, p, (pkg, path))
        for i in range(6):
            img, p = gen_flat(rng_for(s, "flat", str(i)), i)
            save(img, "unrelated/gen_%s_flat%d.png" % (s, i), None, s, "unrelated", param=p)
        for i in range(4):
            img, p = gen_textpage(rng_for(s, "textpage", str(i)))
            save(img, "unrelated/gen_%s_textpage%d.png" % (s, i), None, s, "unrelated", param=p)
        for i, edit in enumerate(["caption_bar", "text_overlay"]):  # shared overlay on near-flat images
            flat, _ = gen_flat(rng_for(s, "overlayflat", str(i)), 3 + i)
            name = "gen_%s_flat_overlay%d" % (s, i)
            out, p, q = apply_edit(flat, name, edit)
            save(out, "unrelated/%s__%s.jpg" % (name, edit), q, s, "unrelated", "", edit, p)
        print("[%6.1fs] %s unrelated done" % (time.time() - t0, s), flush=True)

    def tsv(fn, header, rows):
        with open(os.path.join(args.out, fn), "w") as f:
            f.write("\t".join(header) + "\n")
            f.writelines("\t".join(r) + "\n" for r in rows)

    tsv("manifest.tsv", ["set", "kind", "file", "source", "edit"], manifest)
    tsv("params.tsv", ["file", "params"], params)
    tsv("sources.tsv", ["file", "package", "original"], origins)
    counts = {}
    for s, k, *_ in manifest:
        counts[(s, k)] = counts.get((s, k), 0) + 1
    for (s, k), n in sorted(counts.items()):
        print("%-8s %-9s %4d" % (s, k, n))
    print("done in %.1fs, %d files" % (time.time() - t0, len(manifest)))


if __name__ == "__main__":
    main()
