// A loader checked against a valid safetensors file edited one way per case (issue 17): the edit
// must be refused with an InputError that names the file and says what is wrong.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <filesystem>
#include <functional>
#include <string>

#include "quant/errors.hpp"
#include "ssm_core/safetensors.hpp"

namespace ssmsim::testing {

// `valid` edited by `edit`, written as dir/name.safetensors and given to `load`: the message of the
// InputError it throws (checked to name the file), or "" after a test failure when it accepts the
// file or throws anything else.
inline std::string error_after_edit(const std::filesystem::path& valid, const std::filesystem::path& dir,
                                    const std::string& name, const std::function<void(core::SafeTensors&)>& edit,
                                    const std::function<void(const std::filesystem::path&)>& load) {
  core::SafeTensors st = core::read_safetensors(valid);
  edit(st);
  const auto p = dir / (name + ".safetensors");
  core::write_safetensors(p, st);
  try {
    load(p);
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(p.string()), std::string::npos) << "the error names the file: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": not an InputError: " << e.what();
    return "";
  }
  ADD_FAILURE() << name << ": the edited file was accepted";
  return "";
}

// The same, and the message holds `text`.
inline void expect_edit_refused(const std::filesystem::path& valid, const std::filesystem::path& dir,
                                const std::string& name, const std::function<void(core::SafeTensors&)>& edit,
                                const std::function<void(const std::filesystem::path&)>& load,
                                const std::string& text) {
  const std::string what = error_after_edit(valid, dir, name, edit, load);
  EXPECT_NE(what.find(text), std::string::npos) << name << ": '" << what << "' lacks '" << text << "'";
}

}  // namespace ssmsim::testing
