"""Dense optical flow and occlusion masks in PyTorch (GPU when present) and OpenCV."""
