#ifdef CAFFE_PYTHON_RUNTIME
#include "caffe/util/python_runtime.hpp"

#include <boost/python.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "caffe/common.hpp"

#ifndef CAFFE_PYTHON_EXECUTABLE
#error "CAFFE_PYTHON_EXECUTABLE must name the interpreter Caffe is built for"
#endif

// The Python version libcaffe is linked against, e.g. "3.11".
#define CAFFE_STRINGIFY_(x) #x
#define CAFFE_STRINGIFY(x) CAFFE_STRINGIFY_(x)
#define CAFFE_PYTHON_VERSION \
  CAFFE_STRINGIFY(PY_MAJOR_VERSION) "." CAFFE_STRINGIFY(PY_MINOR_VERSION)

namespace caffe {
namespace python {

namespace {

bool embedded = false;

void CheckStatus(PyStatus status, const char* what) {
  CHECK(!PyStatus_Exception(status)) << "Embedded Python: " << what << ": "
      << (status.err_msg ? status.err_msg : "unknown error");
}

// The traceback of the exception (type, value, traceback), as Python
// prints it.
std::string FormatException(PyObject* type, PyObject* value, PyObject* tb) {
  PyObject* module = PyImport_ImportModule("traceback");
  PyObject* lines = module ? PyObject_CallMethod(module, "format_exception",
      "OOO", type, value ? value : Py_None, tb ? tb : Py_None) : NULL;
  PyObject* empty = PyUnicode_FromString("");
  PyObject* text = lines && empty ? PyUnicode_Join(empty, lines) : NULL;
  const char* utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
  std::string result = utf8 ? utf8 : "(the traceback could not be formatted)\n";
  Py_XDECREF(text);
  Py_XDECREF(empty);
  Py_XDECREF(lines);
  Py_XDECREF(module);
  PyErr_Clear();
  return result;
}

bool IsExecutable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0;
}

// Whether the virtual environment at `root` was made from a Python of the
// version libcaffe links (its pyvenv.cfg says "version = 3.11.2"): another
// version's standard library cannot run in this interpreter.
bool VenvMatchesVersion(const std::string& root) {
  std::ifstream cfg((root + "/pyvenv.cfg").c_str());
  std::string line;
  while (std::getline(cfg, line)) {
    std::istringstream fields(line);
    std::string key, equals, value;
    if (fields >> key >> equals >> value && equals == "=" &&
        (key == "version" || key == "version_info")) {
      const std::string wanted = CAFFE_PYTHON_VERSION ".";
      return value.compare(0, wanted.size(), wanted) == 0;
    }
  }
  return false;
}

// The interpreter whose configuration (sys.prefix, site-packages) the
// embedded Python takes, first that applies:
//  1. $CAFFE_PYTHON;
//  2. the active virtual environment ($VIRTUAL_ENV), if it is of the same
//     Python version;
//  3. the interpreter Caffe was built for, if it still exists;
//  4. python3.X as found on $PATH (an install moved to another machine).
// $PYTHONHOME and $PYTHONPATH apply on top, as for any Python.
std::string ChooseInterpreter() {
  const char* chosen = std::getenv("CAFFE_PYTHON");
  if (chosen && *chosen) return chosen;
  const char* venv = std::getenv("VIRTUAL_ENV");
  if (venv && *venv) {
    const std::string python = std::string(venv) + "/bin/python3";
    if (IsExecutable(python) && VenvMatchesVersion(venv)) return python;
    LOG(WARNING) << "Embedded Python: ignoring VIRTUAL_ENV=" << venv
        << ", which is not a Python " CAFFE_PYTHON_VERSION " environment";
  }
  if (IsExecutable(CAFFE_PYTHON_EXECUTABLE)) return CAFFE_PYTHON_EXECUTABLE;
  // A bare name: Python looks it up on $PATH to find its prefix.
  return "python" CAFFE_PYTHON_VERSION;
}

}  // namespace

void EnsureInitialized() {
  // Nets may be built in several threads at once (one per GPU, or by a
  // program's own threads): one of them starts the interpreter.
  static std::mutex starting;
  std::lock_guard<std::mutex> lock(starting);
  if (Py_IsInitialized()) return;
  const std::string executable = ChooseInterpreter();
  LOG(INFO) << "Embedded Python configured as " << executable;
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  // Python derives sys.prefix, and so the standard library and
  // site-packages (a venv's pyvenv.cfg included), from the program's path.
  CheckStatus(PyConfig_SetBytesString(&config, &config.program_name,
      executable.c_str()), "cannot set the program name");
  CheckStatus(Py_InitializeFromConfig(&config), "cannot start the interpreter");
  PyConfig_Clear(&config);
  embedded = true;
  // Py_Initialize leaves the GIL with this thread; hand it back so that
  // solver threads can take it.
  PyEval_SaveThread();
}

bool IsEmbedded() { return embedded; }

void RaiseError(const std::string& where) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (!embedded) {
    if (value && tb) PyException_SetTraceback(value, tb);
    if (value) {
      PyObject* result = PyObject_CallMethod(value, "add_note", "s", where.c_str());
      Py_XDECREF(result);
      PyErr_Clear();  // add_note needs Python 3.11; the exception stands anyway
    }
    PyErr_Restore(type, value, tb);
    throw boost::python::error_already_set();
  }
  // Under mpirun or with several GPUs, which solver failed.
  std::string rank;
  if (Caffe::solver_count() > 1) {
    rank = " on solver rank " + std::to_string(Caffe::solver_rank()) + " of " +
           std::to_string(Caffe::solver_count());
  }
  LOG(ERROR) << where << rank << ":\n" << FormatException(type, value, tb);
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(NULL);
  // Not exit(): this may be a solver thread while others still run.
  std::_Exit(1);
}

}  // namespace python
}  // namespace caffe
#endif  // CAFFE_PYTHON_RUNTIME
