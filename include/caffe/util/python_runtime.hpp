#ifndef CAFFE_UTIL_PYTHON_RUNTIME_HPP_
#define CAFFE_UTIL_PYTHON_RUNTIME_HPP_
#ifdef WITH_PYTHON_LAYER

namespace caffe {
namespace python {

// Starts the embedded interpreter unless Python is already running (as it is
// when Caffe is loaded by pycaffe). It is configured as if it were the
// interpreter Caffe was built for (CMake's Python3_EXECUTABLE, a virtual
// environment included) so that `caffe train` sees the same packages as
// pycaffe; $CAFFE_PYTHON names another interpreter.
void EnsureInitialized();

}  // namespace python
}  // namespace caffe

#endif  // WITH_PYTHON_LAYER
#endif  // CAFFE_UTIL_PYTHON_RUNTIME_HPP_
