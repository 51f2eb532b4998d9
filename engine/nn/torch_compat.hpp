#pragma once
// What differs between the LibTorch versions the engine builds against, in one place: Debian 12
// ships 1.13; GPU hosts get 2.x with the pip wheel.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#define ENGINE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace engine::compat {

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

}  // namespace engine::compat
