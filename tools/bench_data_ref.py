#!/usr/bin/python3
"""PyTorch reference for tools/bench-data: torchvision ImageFolder + DataLoader over the same train images.

Usage: /usr/bin/python3 tools/bench_data_ref.py ROOT [BATCH_SIZE]
Prints REF|key|value lines; tools/bench-data puts them next to the engine's figures.
"""
import os
import sys
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def main():
    root = sys.argv[1]
    batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    start = time.perf_counter()
    # ImageFolder finds train/<wnid>/images/*.JPEG (it walks sub-folders); it decodes lazily, per item.
    dataset = datasets.ImageFolder(
        os.path.join(root, "train"),
        transform=transforms.Compose([
            transforms.RandomCrop(64, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]))
    scan = time.perf_counter() - start
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    seen = 0
    for images, _ in loader:  # one full pass, worker start included
        seen += images.shape[0]
    one_pass = time.perf_counter() - start
    print(f"REF|load|{scan:.3f}|s (ImageFolder scan of {len(dataset)} files; decodes later, every epoch)")
    print(f"REF|train_cropflip|{seen / one_pass:.0f}|img/s (one pass, num_workers=2, {seen} images)")


if __name__ == "__main__":
    main()
