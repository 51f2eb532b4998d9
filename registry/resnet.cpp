#include "registry/ops.hpp"

namespace engine {

namespace {
// A generated [[layers]] entry.
Value layer(std::initializer_list<std::pair<const char*, Value>> fields) {
  Value t = Value::table();
  for (const auto& [k, v] : fields) t.set(k, v);
  return t;
}
Value str(const std::string& s) { return Value::of_string(s); }
Value num(int64_t x) { return Value::of_int(x); }

// [n] means n blocks in every stage, so a depth variant fits any number of stages.
std::vector<int64_t> block_counts(const Node& n) {
  std::vector<int64_t> blocks = n.ints("blocks");
  size_t stages = n.arg("widths").items.size();
  if (blocks.size() == 1 && stages > 1) blocks.assign(stages, blocks[0]);
  return blocks;
}
}  // namespace

void register_resnet_ops(Registry& r) {
  std::vector<std::string> acts = r.names_of_kind(OpKind::Act);

  OpDef block;
  block.name = "basic_block";
  block.kind = OpKind::Block;
  block.doc =
      "ResNet basic block: conv3x3(stride)-BN-act-conv3x3-BN + skip, then act; the skip is a 1x1 "
      "conv(stride)+BN when width or stride changes, else identity";
  block.params = {
      key_int("out", std::nullopt, "output channels", 1),
      key_int("stride", 1, "stride of the first conv and of the skip", 1),
      key_string("act", "relu", "activation op (in place where the op allows)", acts),
  };
  block.expand = [](const Node& n) {
    Value out = n.arg("out");  // keeps its source location for limit errors
    int64_t stride = n.i("stride");
    Value act = str(n.s("act"));
    std::vector<Value> l{
        layer({{"op", str("conv2d")},
               {"name", str("conv1")},
               {"out", out},
               {"kernel", num(3)},
               {"stride", num(stride)},
               {"padding", num(1)},
               {"bias", Value::of_bool(false)}}),
        layer({{"op", str("batchnorm2d")}, {"name", str("bn1")}}),
        layer({{"op", act}, {"name", str("act1")}}),
        layer({{"op", str("conv2d")},
               {"name", str("conv2")},
               {"out", out},
               {"kernel", num(3)},
               {"padding", num(1)},
               {"bias", Value::of_bool(false)}}),
        layer({{"op", str("batchnorm2d")}, {"name", str("bn2")}}),
    };
    std::string skip = "input";
    if (stride != 1 || n.in()[0] != out.i) {
      l.push_back(layer({{"op", str("conv2d")},
                         {"name", str("downsample.0")},
                         {"from", str("input")},
                         {"out", out},
                         {"kernel", num(1)},
                         {"stride", num(stride)},
                         {"bias", Value::of_bool(false)}}));
      l.push_back(layer({{"op", str("batchnorm2d")}, {"name", str("downsample.1")}}));
      skip = "downsample.1";
    }
    Value from = Value::array();
    from.items = {str("bn2"), str(skip)};
    l.push_back(layer({{"op", str("add")}, {"name", str("add")}, {"from", from}}));
    l.push_back(layer({{"op", act}, {"name", str("act2")}}));
    return l;
  };
  block.label = [](const Node& n) {
    return std::to_string(n.i("out")) + (n.i("stride") > 1 ? "/" + std::to_string(n.i("stride")) : "") + ", " +
           n.s("act");
  };
  block.module_name = "BasicBlock";
  r.add(std::move(block));

  OpDef stages;
  stages.name = "resnet_stages";
  stages.kind = OpKind::Stages;
  stages.doc =
      "ResNet body: stage i is blocks[i] basic blocks of widths[i] channels, stride 2 in the first "
      "block of every stage but the first; stages are named layer1..layerN";
  stages.params = {
      key_ints("widths", std::nullopt, "channels of each stage", 1),
      key_ints("blocks", std::nullopt, "blocks per stage: one count per width, or [n] for n in every stage", 1),
      key_string("act", "relu", "activation op of every block", acts),
      key_string("block", "basic", "block type", {"basic"}),
  };
  stages.expand = [](const Node& n) {
    const Value& widths = n.arg("widths");
    std::vector<int64_t> blocks = block_counts(n);
    if (widths.items.size() != blocks.size() || blocks.empty())
      n.fail("blocks", "blocks has " + std::to_string(blocks.size()) + " entries but widths has " +
                           std::to_string(widths.items.size()) + "; give one block count per stage");
    // The expansion is built in memory: blocks = [100000000] must fail, not exhaust it.
    int64_t total = 0;
    for (int64_t b : blocks) {
      if (b > 1000 - total) n.fail("blocks", "more than 1000 blocks in all (ResNet-152 has 50)");
      total += b;
    }
    std::vector<Value> l;
    for (size_t s = 0; s < blocks.size(); ++s)
      for (int64_t b = 0; b < blocks[s]; ++b)
        l.push_back(layer({{"op", str("basic_block")},
                           {"name", str("layer" + std::to_string(s + 1) + "." + std::to_string(b))},
                           {"out", widths.items[s]},
                           {"stride", num(s > 0 && b == 0 ? 2 : 1)},
                           {"act", str(n.s("act"))}}));
    return l;
  };
  stages.splice = true;  // layer1..layerN print as the model's own children, as in torchvision
  stages.label = [](const Node& n) {
    std::string w, b;
    for (auto x : n.ints("widths")) w += (w.empty() ? "" : "-") + std::to_string(x);
    for (auto x : block_counts(n)) b += (b.empty() ? "" : ",") + std::to_string(x);
    return w + " [" + b + "], " + n.s("act");
  };
  r.add(std::move(stages));
}

}  // namespace engine
