// Typed errors shared by every layer. Library code throws these; only sim/main.cpp turns them into
// messages and exit codes (2 for usage/input errors, 1 for run failures).
#pragma once

#include <stdexcept>
#include <string>

namespace ssmsim {

// Something the user supplied is wrong: a config key, a file, a format string. Exit status 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A fixed-point format or operation that cannot be honoured (width out of range, an alignment that
// needs more than the exact intermediate can hold, a rescale that is not exactly representable).
class FormatError : public InputError {
 public:
  using InputError::InputError;
};

// A config value that is not allowed. The message names the key, the value and what is allowed.
class ConfigError : public InputError {
 public:
  ConfigError(const std::string& key, const std::string& value, const std::string& allowed)
      : InputError("config key '" + key + "' = '" + value + "': " + allowed), key_(key) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// The run itself failed (for example the accelerator was not bit-exact). Exit status 1.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ssmsim
