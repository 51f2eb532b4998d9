#pragma once
// What this binary was built with and runs on, for `engine --version`: torch-free, so the
// command layer prints it without including torch.
#include <string>
#include <utility>
#include <vector>

namespace engine {

// ("engine", "0.1.0"), ("LibTorch", ...), ("CUDA", ...), ("oneDNN", ...), in that order.
std::vector<std::pair<std::string, std::string>> build_info();

// The instruction set oneDNN dispatches to on this CPU: the best one /proc/cpuinfo offers,
// lowered to ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) when set; oneDNN's own names.
std::string onednn_isa(const std::string& cpu_flags, const std::string& max_isa);

}  // namespace engine
