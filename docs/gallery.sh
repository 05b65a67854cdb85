#!/usr/bin/env bash
# Rebuild the pictures of docs/article.md (the article's examples) with cnnfilter itself.
# Usage: bash docs/gallery.sh   (from the repository root, with cnnfilter installed)
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/img
mkdir -p "$out"

# The article's code: scipy.signal.convolve2d(image, kernel, boundary='symm', mode='same')
# on a grayscale photo, with its vertical- and horizontal-line kernels, original | result.
cnnfilter apply samples/camera.png --kernel vertical-lines --boundary symm --side-by-side \
  -o "$out/article_vertical.jpg" --quality 85 --force
cnnfilter apply samples/camera.png --kernel horizontal-lines --boundary symm --side-by-side \
  -o "$out/article_horizontal.jpg" --quality 85 --force

# The article's table of kernels (Wikipedia, "Kernel (image processing)") on a colour photo,
# each channel filtered on its own, as the article's helper does (but never wrapping around).
cnnfilter apply samples/chelsea.png --kernel identity -o "$out/table_identity.jpg" --quality 85 --force
for k in edge-1 edge-2 edge-3 sharpen box-blur gaussian-3x3 gaussian-5x5 unsharp-5x5; do
  cnnfilter apply samples/chelsea.png --kernel "$k" -o "$out/table_$k.jpg" --quality 85 --force
done
