// The workload registry: load_workload() and workload_names().
#include "workloads/dataset.hpp"

#include "quant/errors.hpp"
#include "workloads/dynamical.hpp"
#include "workloads/mnist.hpp"
#include "workloads/synthetic.hpp"

namespace ssmsim::workloads {

namespace {

struct Entry {
  const char* name;
  Workload (*load)(const WorkloadOptions&);
};

Workload smnist(const WorkloadOptions& o) { return load_mnist(false, o); }
Workload psmnist(const WorkloadOptions& o) { return load_mnist(true, o); }

// The one list of workloads, in the order workload_names() reports them.
constexpr Entry kRegistry[] = {
    {"smnist", smnist},
    {"psmnist", psmnist},
    {"adding", adding_workload},
    {"recall", recall_workload},
    {"sines", sines_workload},
    {"lorenz", lorenz_workload},
    {"mackey_glass", mackey_glass_workload},
};

}  // namespace

std::vector<std::string> workload_names() {
  std::vector<std::string> names;
  for (const auto& e : kRegistry) names.emplace_back(e.name);
  return names;
}

Workload load_workload(const std::string& name, const WorkloadOptions& options) {
  for (const auto& e : kRegistry)
    if (name == e.name) return e.load(options);
  std::string list;
  for (const auto& e : kRegistry) list += (list.empty() ? "" : ", ") + std::string(e.name);
  throw InputError("unknown workload '" + name + "'; the workloads are: " + list);
}

}  // namespace ssmsim::workloads
