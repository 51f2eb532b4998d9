#pragma once
// What differs between the LibTorch versions the engine builds against, in one place: Debian 12
// ships 1.13; GPU hosts get 2.x with the pip wheel.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <optional>

#define ENGINE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace engine::compat {

// torch::nn options hold c10::variant before LibTorch 2.1 and std::variant from it.
#if ENGINE_TORCH_AT_LEAST(2, 1)
namespace variants = ::std;
#else
namespace variants = ::c10;
#endif

// Autocast on or off for one device type, computing in `dtype` when on. LibTorch 2.4 made these
// calls device-typed and deprecated set_enabled, set_cpu_enabled and set_autocast_{gpu,cpu}_dtype.
inline void set_autocast(c10::DeviceType device, bool enabled, at::ScalarType dtype = at::kBFloat16) {
#if ENGINE_TORCH_AT_LEAST(2, 4)
  if (enabled) at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == c10::DeviceType::CUDA) {
    if (enabled) at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    if (enabled) at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

// The dtype CPU autocast computes in, or nothing when it is off.
inline std::optional<at::ScalarType> cpu_autocast_dtype() {
#if ENGINE_TORCH_AT_LEAST(2, 4)
  if (!at::autocast::is_autocast_enabled(c10::DeviceType::CPU)) return std::nullopt;
  return at::autocast::get_autocast_dtype(c10::DeviceType::CPU);
#else
  if (!at::autocast::is_cpu_enabled()) return std::nullopt;
  return at::autocast::get_autocast_cpu_dtype();
#endif
}

}  // namespace engine::compat
