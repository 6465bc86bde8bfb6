#!/usr/bin/env python3
"""jpeg_fixture.py CIFAR_BIN OUT - the oracle side of tests/test_jpeg.c, with PIL (python3-pil).

Builds a small ImageNet-style folder of JPEGs from the bundled CIFAR-10 images and writes what
the original pipeline (torchvision ImageFolder + PIL + transforms.Resize((32, 32))) makes of it,
so the C tests can compare clnas's reader with PIL without torchvision:

  OUT/tree/<class>/...        the folder: 6 classes (one empty, names chosen so that bytewise order
                              matters), JPEGs of several sizes, aspect ratios and encodings (4:2:0,
                              4:2:2, 4:4:4, progressive, optimised, grayscale, CMYK, a recoverable
                              libjpeg warning), a nested sub-folder, and files that must be skipped
                              (truncated, zero bytes, garbage, PNG data named .JPEG); a .txt is ignored
  OUT/classes.txt             class names, in ImageFolder's order
  OUT/order.txt               one line per ImageFolder sample, in order: label<TAB>status<TAB>path,
                              status "ok" (a JPEG PIL decodes), "pil_only" (PIL decodes it, but it is
                              not JPEG data: clnas skips it) or "bad" (PIL cannot decode it either)
  OUT/pil32.bin               for each "ok" sample in order: PIL's Image.open(p).convert("RGB")
                              .resize((32, 32), Image.BILINEAR) as 32*32*3 bytes, RGB interleaved
  OUT/resize_cases.txt        synthetic resize cases: w h ch ow oh src_offset ref_offset name
  OUT/resize_src.bin, OUT/resize_ref.bin   their pixels and PIL's resize of them
  OUT/bad/                    a folder of two classes holding only undecodable files

The ImageFolder order is computed here the way torchvision.datasets.folder does it (find_classes:
sorted os.scandir names of directories; make_dataset: sorted(os.walk(class_dir, followlinks=True)),
sorted file names, IMG_EXTENSIONS matched on the lower-cased name).
"""
import io
import os
import sys

import numpy as np
from PIL import Image

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar(path):
    raw = np.fromfile(path, np.uint8).reshape(-1, 3073)
    return raw[:, 0], raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def mosaic(imgs, w, h, first):
    """Real photographs at their own resolution, tiled: the detail of a real large image."""
    nx, ny = (w + 31) // 32, (h + 31) // 32
    m = np.zeros((ny * 32, nx * 32, 3), np.uint8)
    for y in range(ny):
        for x in range(nx):
            m[y * 32:(y + 1) * 32, x * 32:(x + 1) * 32] = imgs[(first + y * nx + x) % len(imgs)]
    return Image.fromarray(m[:h, :w])


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def build_tree(root, labels, imgs):
    by_class = {c: np.flatnonzero(labels == c) for c in range(10)}
    # "Zebra_empty" sorts first bytewise ('Z' < 'a'): an empty class still takes label 0
    os.makedirs(os.path.join(root, "Zebra_empty"), exist_ok=True)
    classes = ["airplane", "automobile", "bird", "cat", "deer"]
    for ci, name in enumerate(classes):
        ids = by_class[ci]
        up = lambda k, w, h: Image.fromarray(imgs[ids[k]]).resize((w, h), Image.BICUBIC)
        d = os.path.join(root, name)
        # names whose bytewise order differs from a natural sort (img10 < img2)
        write(os.path.join(d, "img1.JPEG"), jpeg_bytes(up(0, 57, 43), quality=90))
        write(os.path.join(d, "img10.JPEG"), jpeg_bytes(up(1, 224, 224), quality=75))
        write(os.path.join(d, "img2.jpeg"), jpeg_bytes(mosaic(imgs, 500, 375, 100 * ci), quality=95, subsampling=0))
        write(os.path.join(d, "IMG3.JPG"), jpeg_bytes(up(2, 375, 500), quality=85, progressive=True))
        write(os.path.join(d, "img4.jpg"), jpeg_bytes(Image.fromarray(imgs[ids[3]]), quality=100))
        write(os.path.join(d, "img5.JPEG"), jpeg_bytes(up(4, 120, 90).convert("L"), quality=90))
        write(os.path.join(d, "img6.JPEG"), jpeg_bytes(mosaic(imgs, 80, 60, 7 + ci).convert("CMYK"), quality=90))
        write(os.path.join(d, "img7.jpg"), jpeg_bytes(up(5, 33, 200), quality=80, subsampling=1, optimize=True))
        ok = jpeg_bytes(mosaic(imgs, 640, 480, 900 + ci), quality=70)
        # junk before the EOI marker: libjpeg warns ("extraneous bytes"), PIL decodes it anyway
        write(os.path.join(d, "img8_warn.JPEG"), ok[:-2] + b"\x00" * 5 + ok[-2:])
        write(os.path.join(d, "notes.txt"), b"not an image: ImageFolder ignores it\n")
        if name == "airplane":
            write(os.path.join(d, "sub", "img0.JPEG"), jpeg_bytes(up(6, 48, 48), quality=90))
            write(os.path.join(d, "bad_trunc.JPEG"), ok[: len(ok) * 2 // 5])
            write(os.path.join(d, "bad_zero.JPEG"), b"")
        if name == "bird":
            write(os.path.join(d, "bad_garbage.jpg"), bytes(np.random.default_rng(5).integers(0, 256, 3000, np.uint8)))
            png = io.BytesIO()
            up(7, 40, 30).save(png, "PNG")
            write(os.path.join(d, "bad_png.JPEG"), png.getvalue())


def imagefolder(root):
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    samples = []
    for ci, c in enumerate(classes):
        for r, _, fnames in sorted(os.walk(os.path.join(root, c), followlinks=True)):
            for f in sorted(fnames):
                if f.lower().endswith(IMG_EXTENSIONS):
                    samples.append((os.path.join(r, f), ci))
    return classes, samples


def pil_status(path):
    try:
        im = Image.open(path)
        fmt = im.format
        rgb = im.convert("RGB")
    except Exception:
        return "bad", None
    if fmt != "JPEG":
        return "pil_only", None
    return "ok", np.asarray(rgb.resize((32, 32), Image.BILINEAR))


def resize_cases(out, imgs):
    rng = np.random.default_rng(11)
    cases, src, ref = [], bytearray(), bytearray()
    sizes = [(57, 43), (224, 224), (500, 375), (375, 500), (32, 32), (33, 32), (32, 33), (31, 40), (7, 5), (1, 1),
             (1, 100), (1000, 100), (64, 64), (96, 96), (48, 200), (2048, 1536)]
    for (w, h) in sizes:
        big = w * h > 300000  # one case is enough there (keeps the files small)
        for ch in ((3,) if big else (3, 1)):
            for kind in (("photo",) if big else ("noise", "edges", "photo")):
                if kind == "noise":
                    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                elif kind == "edges":  # 0/255 stripes and a diagonal: the largest rounding stress
                    yy, xx = np.mgrid[0:h, 0:w]
                    a = np.stack([((xx // 3) % 2) * 255, ((yy // 5) % 2) * 255, (xx > yy) * 255], -1).astype(np.uint8)
                else:
                    a = np.asarray(mosaic(imgs, w, h, w + h))
                a = np.ascontiguousarray(a[..., :ch] if ch == 3 else a[..., :1])
                at = len(src)
                src += a.tobytes()
                for (ow, oh) in (((32, 32),) if big else ((32, 32), (16, 24), (224, 224))):
                    im = Image.fromarray(a[..., 0] if ch == 1 else a, "L" if ch == 1 else "RGB")
                    r = np.asarray(im.resize((ow, oh), Image.BILINEAR))
                    cases.append("%d %d %d %d %d %d %d %s-%dx%dx%d" % (w, h, ch, ow, oh, at, len(ref), kind, w, h, ch))
                    ref += r.tobytes()
    with open(os.path.join(out, "resize_cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")
    with open(os.path.join(out, "resize_src.bin"), "wb") as f:
        f.write(src)
    with open(os.path.join(out, "resize_ref.bin"), "wb") as f:
        f.write(ref)


def main():
    cifar_bin, out = sys.argv[1], sys.argv[2]
    labels, imgs = cifar(cifar_bin)
    root = os.path.join(out, "tree")
    build_tree(root, labels, imgs)
    classes, samples = imagefolder(root)
    with open(os.path.join(out, "classes.txt"), "w") as f:
        f.write("".join(c + "\n" for c in classes))
    pil = bytearray()
    with open(os.path.join(out, "order.txt"), "w") as f:
        for path, label in samples:
            st, px = pil_status(path)
            f.write("%d\t%s\t%s\n" % (label, st, path))
            if px is not None:
                pil += px.tobytes()
    with open(os.path.join(out, "pil32.bin"), "wb") as f:
        f.write(pil)
    bad = os.path.join(out, "bad")
    write(os.path.join(bad, "a", "x.JPEG"), b"")
    write(os.path.join(bad, "b", "y.jpg"), b"\xff\xd8\xff\xe0 this is not a JPEG")
    resize_cases(out, imgs)


if __name__ == "__main__":
    main()
