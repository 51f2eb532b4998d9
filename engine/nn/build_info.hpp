#pragma once
// What this binary was built with and runs on, for `engine --version`: torch-free, so the
// command layer prints it without including torch.
#include <string>
#include <utility>
#include <vector>

namespace engine {

// ("engine", "0.1.0"), ("LibTorch", ...), ("CUDA", ...), ("oneDNN", version, ISA as capped by
// ONEDNN_MAX_CPU_ISA, and how it computes bf16), ("kernels", the build of our loops), in that order.
std::vector<std::pair<std::string, std::string>> build_info();

}  // namespace engine
