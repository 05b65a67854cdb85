#!/usr/bin/env bash
# Rebuild the pictures of docs/article.md (the article's examples) with cnnfilter itself.
# Usage: bash docs/gallery.sh   (from anywhere, after set-up, with .venv/bin on the PATH)
# One cnnfilter command per line, no variables: tests/docs/test_gallery.py runs these lines
# and compares what they write with the pictures in docs/img.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/img

# The article's code: scipy.signal.convolve2d(image, kernel, boundary='symm', mode='same')
# on a grayscale photo, with its vertical- and horizontal-line kernels, original | result.
cnnfilter apply samples/camera.png --kernel vertical-lines --boundary symm --side-by-side -o docs/img/article_vertical.jpg --quality 85 --force
cnnfilter apply samples/camera.png --kernel horizontal-lines --boundary symm --side-by-side -o docs/img/article_horizontal.jpg --quality 85 --force

# The article's table of kernels (Wikipedia, "Kernel (image processing)") on a colour photo,
# each channel filtered on its own, as the article's helper does (but never wrapping around).
cnnfilter apply samples/chelsea.png --kernel identity -o docs/img/table_identity.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel edge-1 -o docs/img/table_edge-1.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel edge-2 -o docs/img/table_edge-2.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel edge-3 -o docs/img/table_edge-3.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel sharpen -o docs/img/table_sharpen.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel box-blur -o docs/img/table_box-blur.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel gaussian-3x3 -o docs/img/table_gaussian-3x3.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel gaussian-5x5 -o docs/img/table_gaussian-5x5.jpg --quality 85 --force
cnnfilter apply samples/chelsea.png --kernel unsharp-5x5 -o docs/img/table_unsharp-5x5.jpg --quality 85 --force
