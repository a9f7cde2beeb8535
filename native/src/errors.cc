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

std::string describeValue(const Napi::Value& value) {
  if (value.IsSymbol()) return "a Symbol";
  if (value.IsFunction()) return "a function";
  if (value.IsBigInt()) {
    bool lossless = true;
    int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
    return lossless ? std::to_string(v) + "n" : std::string("a BigInt outside the int64 range");
  }
  napi_value text;
  if (napi_coerce_to_string(value.Env(), value, &text) != napi_ok) {
    // Coercion threw in JS (e.g. a toString that throws); clear it so that our own error is the one reported.
    napi_value ignored;
    napi_get_and_clear_last_exception(value.Env(), &ignored);
    return "a value that cannot be shown";
  }
  return Napi::String(value.Env(), text).Utf8Value();
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
