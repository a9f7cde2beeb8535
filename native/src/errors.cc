// Error messages of the binding: every failure becomes a JS Error that says what was wrong.
#include "common.h"

#include <c10/util/Exception.h>
#include <sstream>

namespace effnet {

void throwError(Napi::Env env, const std::string& message) {
  throw Napi::Error::New(env, message);
}

std::string errorMessage(const std::exception& error) {
  if (auto* c10Error = dynamic_cast<const c10::Error*>(&error)) {
    return c10Error->what_without_backtrace();
  }
  return error.what();
}

std::string describeTensor(const at::Tensor& tensor) {
  if (!tensor.defined()) return "undefined tensor";
  std::ostringstream out;
  out << dtypeName(tensor.scalar_type()) << "[";
  for (int64_t i = 0; i < tensor.dim(); ++i) {
    if (i > 0) out << ", ";
    out << tensor.size(i);
  }
  out << "]";
  if (!tensor.device().is_cpu()) out << "@" << tensor.device().str();
  return out.str();
}

}  // namespace effnet
