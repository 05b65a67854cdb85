#!/usr/bin/env bash
# Rebuild every picture in docs/img (README.md and docs/*.md) with cnnfilter itself, from files
# shipped in samples/.
# Usage: bash docs/gallery.sh   (from anywhere, after set-up, with .venv/bin on the PATH)
# One cnnfilter command per line, no variables: tests/docs/test_gallery.py runs these lines
# and compares what they write (-o, --heatmap, --overlay, --show-winners) with docs/img.
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

# Gradient magnitude (sqrt(gx^2 + gy^2) of sobel-x and sobel-y), and several kernels in one montage.
cnnfilter apply samples/chelsea.png --kernel sobel -o docs/img/apply_sobel_magnitude.jpg --quality 85 --force
cnnfilter apply samples/coins.png -k sobel-x -k sobel-y -k sobel -k laplacian --montage -o docs/img/apply_montage.png --force

# detect: a template over a photo (overlay and heatmap, each with its colour bar and caption),
# and one coin found among the others.
cnnfilter detect samples/coffee.png --template samples/crops/cup.png --method ncc --top 3 --heatmap docs/img/detect_coffee_heat.jpg --overlay docs/img/detect_coffee_overlay.jpg --force
cnnfilter detect samples/coins.png --template samples/crops/coin.png --method ncc --top 8 --overlay docs/img/detect_coins_ncc.jpg --force
cnnfilter detect samples/coins.png --kernel laplacian --heatmap docs/img/detect_coins_laplacian.png --force

# pool: the input with the pooling grid and the winners, beside the pooled output.
cnnfilter pool samples/crops/camera_hair.png --op max --size 2 --show-winners docs/img/pool_winners.png --force

# forward: the article's hand-set first layer (line kernels and the curve detector), ReLU and
# max pooling on a real photo, one montage per layer; then two hand-set layers, the second
# combining the first one's maps. Each writes a folder: NN_<layer>.png and summary.json.
cnnfilter forward samples/arch/article_first_layer.yaml samples/article/cameraman.png -o docs/img/forward_article --force
cnnfilter forward samples/arch/article_two_layers.yaml samples/article/cameraman.png -o docs/img/forward_two_layers --force

# receptive-field: one unit's field on a photo (square input), and near the border.
cnnfilter receptive-field samples/arch/vgg16.yaml --image samples/astronaut.png --layer conv5_3 --unit 7,7 -o docs/img/rf_vgg16_conv5_3.png --force
cnnfilter receptive-field samples/arch/vgg16.yaml --image samples/astronaut.png --layer conv5_3 --unit 2,10 -o docs/img/rf_vgg16_conv5_3_edge.png --force
cnnfilter receptive-field samples/arch/vgg16.yaml --image samples/coffee.png --layer conv4_3 --fit letterbox -o docs/img/rf_vgg16_coffee_letterbox.png --force
