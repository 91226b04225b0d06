#ifndef CAFFE_UTIL_PYTHON_RUNTIME_HPP_
#define CAFFE_UTIL_PYTHON_RUNTIME_HPP_

#include <Python.h>

#include <string>

// Built into libcaffe with Python layers, else into pycaffe.
namespace caffe {
namespace python {

// Starts the embedded interpreter unless Python is already running (as it is
// when Caffe is loaded by pycaffe), then releases the GIL: from then on any
// thread enters Python through GilLock. It is configured as if it were an
// interpreter of the Python version Caffe links, so that `caffe train` sees
// the same packages as pycaffe: $CAFFE_PYTHON if set, else the active
// virtual environment ($VIRTUAL_ENV), else the interpreter Caffe was built
// for (CMake's Python3_EXECUTABLE) if it exists, else python3.X on $PATH.
void EnsureInitialized();

/// Whether Caffe started the interpreter (the caffe CLI) rather than being
/// loaded into one (pycaffe).
bool IsEmbedded();

/// Holds the GIL for its scope, from any thread (PyGILState_Ensure).
class GilLock {
 public:
  GilLock() : state_(PyGILState_Ensure()) {}
  ~GilLock() { PyGILState_Release(state_); }

 private:
  GilLock(const GilLock&);
  GilLock& operator=(const GilLock&);
  PyGILState_STATE state_;
};

/// Lets other Python threads run for its scope; the caller holds the GIL.
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(state_); }

 private:
  GilRelease(const GilRelease&);
  GilRelease& operator=(const GilRelease&);
  PyThreadState* state_;
};

/// Handles the Python exception now set (the GIL held): in pycaffe it is
/// kept, with `where` added as a note, and thrown to the caller as
/// boost::python::error_already_set; in the CLI the traceback is logged
/// after `where` and the process exits with status 1.
[[noreturn]] void RaiseError(const std::string& where);

}  // namespace python
}  // namespace caffe

#endif  // CAFFE_UTIL_PYTHON_RUNTIME_HPP_
