#include "registry/ops.hpp"

namespace engine {

void register_merge_ops(Registry& r) {
  OpDef add;
  add.name = "add";
  add.kind = OpKind::Merge;
  add.doc = "elementwise sum of its inputs (a residual connection); shapes must match exactly";
  add.min_inputs = 2;
  add.max_inputs = -1;
  add.shape = [](const Node& n) {
    for (size_t k = 1; k < n.in_shapes.size(); ++k)
      if (n.in_shapes[k] != n.in_shapes[0])
        n.fail("", "inputs have different shapes: " + n.from[0] + " gives " + shape_str(n.in_shapes[0]) + ", " +
                       n.from[k] + " gives " + shape_str(n.in_shapes[k]) +
                       " (a skip across a width or stride change needs a 1x1 conv2d + batchnorm2d)");
    return n.in_shapes[0];
  };
  r.add(std::move(add));

  OpDef cat;
  cat.name = "concat";
  cat.kind = OpKind::Merge;
  cat.doc = "concatenation of its inputs along a dimension (0: channels)";
  cat.min_inputs = 2;
  cat.max_inputs = -1;
  cat.params = {key_int("dim", 0, "dimension of one example to join along (0: channels)", 0)};
  cat.shape = [](const Node& n) {
    size_t dim = static_cast<size_t>(n.i("dim"));
    if (dim >= n.in().size()) n.fail("dim", "dim must be below the input rank " + std::to_string(n.in().size()));
    Shape out = n.in_shapes[0];
    for (size_t k = 1; k < n.in_shapes.size(); ++k) {
      Shape a = n.in_shapes[0], b = n.in_shapes[k];
      if (a.size() != b.size()) n.fail("", "inputs have different ranks: " + shape_str(a) + " and " + shape_str(b));
      a[dim] = b[dim] = 0;
      if (a != b)
        n.fail("dim", "inputs differ outside dim " + std::to_string(dim) + ": " + shape_str(n.in_shapes[0]) + " and " +
                          shape_str(n.in_shapes[k]));
      out[dim] = checked_add(n, {out[dim], n.in_shapes[k][dim]});
    }
    return out;
  };
  r.add(std::move(cat));
}

}  // namespace engine
