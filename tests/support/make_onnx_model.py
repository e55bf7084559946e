#!/usr/bin/python3
"""Makes a small image-embedding ONNX model, test images, and the embeddings they should give, for the
node's embedding tests (tests/embedding, tests/integration).

The model (seeded random weights): Conv 3->8 3x3 stride 2 pad 1, Relu, Conv 8->16 3x3 stride 2 pad 1, Relu,
GlobalAveragePool, Flatten, Gemm 16->dimension. Built with Debian's python3-onnx (opset 11).

The expected embeddings are computed here, independently of the node: the PNG files are written from numpy
arrays by a tiny PNG writer, the resampling follows the rule in hashing/image_decoder.h (DecodeOutputs::rgb)
in numpy, and the network is evaluated in float64 numpy. Nothing of OpenCV or of the node's code is used.

Writes to --out: model.onnx, the images, and expected.txt:
  model_id <sha256 hex of model.onnx>
  image <file name> <dimension> <v1> ... <vn>
"""
import argparse
import hashlib
import os
import struct
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_png(path, pixels):
    """pixels: uint8 array HxWx3 (RGB) or HxW (grey)."""
    h, w = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def resample(img, out_w, out_h):
    """The node's model-input rule: area-average each side longer than its target (source i -> i*t/n, rounded
    integer mean), then nearest-neighbour stretch each shorter side (output j <- j*n/t)."""
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    h, w = img.shape[:2]
    mid_w, mid_h = min(w, out_w), min(h, out_h)
    gx = (np.arange(w) * mid_w) // w
    gy = (np.arange(h) * mid_h) // h
    sums = np.zeros((mid_h, mid_w, 3), dtype=np.int64)
    counts = np.zeros((mid_h, mid_w), dtype=np.int64)
    np.add.at(sums, (gy[:, None], gx[None, :]), img.astype(np.int64))
    np.add.at(counts, (gy[:, None], gx[None, :]), 1)
    mid = (sums + counts[:, :, None] // 2) // counts[:, :, None]
    sx = (np.arange(out_w) * mid_w) // out_w
    sy = (np.arange(out_h) * mid_h) // out_h
    return mid[sy][:, sx].astype(np.uint8)


def conv2d(x, weight, bias, stride, pad):
    c, h, w = x.shape
    o, _, k, _ = weight.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = np.zeros((o, oh, ow))
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
            out += np.einsum("oc,chw->ohw", weight[:, :, ky, kx], patch)
    return out + bias[:, None, None]


def forward(tensor, params):
    w1, b1, w2, b2, w3, b3 = params
    x = np.maximum(conv2d(tensor, w1, b1, 2, 1), 0)
    x = np.maximum(conv2d(x, w2, b2, 2, 1), 0)
    x = x.mean(axis=(1, 2))
    return w3 @ x + b3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--height", type=int, default=24)
    ap.add_argument("--dimension", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bgr", action="store_true")
    ap.add_argument("--mean", default="", help="comma-separated, 0, 1 or 3 values (tensor channel order)")
    ap.add_argument("--std", default="", help="comma-separated, 0, 1 or 3 values")
    args = ap.parse_args()
    rng = np.random.RandomState(args.seed)
    d = args.dimension
    params = [
        rng.randn(8, 3, 3, 3).astype(np.float32) * 0.5, rng.randn(8).astype(np.float32) * 0.1,
        rng.randn(16, 8, 3, 3).astype(np.float32) * 0.3, rng.randn(16).astype(np.float32) * 0.1,
        rng.randn(d, 16).astype(np.float32), rng.randn(d).astype(np.float32) * 0.1,
    ]
    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["embedding"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "hashbank_test_embedder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, args.height, args.width])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, d])],
        [numpy_helper.from_array(p, n) for p, n in zip(params, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="hashbank-tests")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.onnx")
    onnx.save(model, model_path)
    with open(model_path, "rb") as f:
        model_id = hashlib.sha256(f.read()).hexdigest()

    mean = [float(v) for v in args.mean.split(",") if v]
    std = [float(v) for v in args.std.split(",") if v]

    def channel(values, c, fallback):
        return fallback if not values else (values[0] if len(values) == 1 else values[c])

    def embed(img):
        rgb = resample(img, args.width, args.height).astype(np.float64)
        order = [2, 1, 0] if args.bgr else [0, 1, 2]
        tensor = np.stack([(rgb[:, :, order[c]] / 255.0 - channel(mean, c, 0.0)) / channel(std, c, 1.0)
                           for c in range(3)])
        return forward(tensor, [p.astype(np.float64) for p in params])

    # Smooth random colour fields (so that resampling matters) of sizes that exercise each resampling case.
    w, h = args.width, args.height
    sizes = [("same", w, h, 3), ("half", 2 * w, 2 * h, 3), ("uneven", 3 * w - 1, 2 * h + 1, 3),
             ("narrow", max(1, w // 2), 3 * h, 3), ("small", max(1, w // 3), max(1, h // 2), 3), ("grey", 2 * w + 3, h, 1)]
    lines = [f"model_id {model_id}"]
    for name, iw, ih, channels in sizes:
        yy, xx = np.mgrid[0:ih, 0:iw]
        planes = []
        for _ in range(channels):
            fx, fy, phase = rng.uniform(0.02, 0.4), rng.uniform(0.02, 0.4), rng.uniform(0, 6.3)
            noise = rng.randint(0, 40, size=(ih, iw))
            planes.append(np.clip(110 + 90 * np.sin(fx * xx + fy * yy + phase) + noise, 0, 255))
        img = (np.stack(planes, axis=2) if channels == 3 else planes[0]).astype(np.uint8)
        file = f"{name}.png"
        write_png(os.path.join(args.out, file), img)
        v = embed(img)
        lines.append(" ".join(["image", file, str(d)] + [repr(float(x)) for x in v]))
    with open(os.path.join(args.out, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
