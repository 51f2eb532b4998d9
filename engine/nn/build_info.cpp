#include "engine/nn/build_info.hpp"

#include <ATen/Version.h>
#include <torch/torch.h>

#include <cstdlib>

#include "engine/kernels/vector_loops.hpp"
#include "engine/nn/runner/hardware.hpp"

namespace engine {

std::vector<std::pair<std::string, std::string>> build_info() {
  std::string cuda = "no (LibTorch built without it)";
  if (torch::cuda::is_available())
    cuda = "yes, " + std::to_string(torch::cuda::device_count()) + " device(s), " + gpu_model();
  else if (at::hasCUDA())
    cuda = "built in, no device visible";
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!cap || !*cap) cap = std::getenv("DNNL_MAX_CPU_ISA");
  std::string onednn = at::hasMKLDNN() ? at::get_mkldnn_version() : "not built in";
  onednn += ", ISA " + cpu_isa() + ", bf16 " + bf16_name(bf16_support("cpu"));
  if (cap && *cap) onednn += ", ONEDNN_MAX_CPU_ISA=" + std::string(cap);
  const std::string loops = std::string("loops ") + vec::loop_isa_name(vec::loop_isa()) + " (ENGINE_CPU_ISA caps it)";
  return {
      {"engine", ENGINE_VERSION}, {"LibTorch", TORCH_VERSION}, {"CUDA", cuda}, {"oneDNN", onednn}, {"kernels", loops}};
}

}  // namespace engine
