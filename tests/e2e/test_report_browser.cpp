// End-to-end: the demo's HTML report in a real browser. The demo sweep (configs/sweeps/demo.yaml)
// runs on a subset, `ssmsim report` writes the page, and headless Chromium (Debian's chromium,
// installed by `make deps`) loads it: no console message or error, every plot has drawn one
// circle per design point, and a screenshot is saved beside the test's output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::count_of;
using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {



}  // namespace

TEST(ReportBrowser, TheDemoReportLoadsInChromiumWithoutErrorsAndDrawsEveryPoint) {
  SSMSIM_REQUIRE_MNIST();
  const fs::path chromium = "/usr/bin/chromium";
  ASSERT_TRUE(fs::exists(chromium)) << "headless Chromium is missing: run `make deps` (Debian package chromium)";
  const auto dir = scratch_dir("report_browser");
  auto r = run_cli({"sweep", "--spec", (source_dir() / "configs/sweeps/demo.yaml").string(), "--out-dir",
                    (dir / "demo").string(), "--jobs", "2", "--limit", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"report", "--in", (dir / "demo").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string url = "file://" + fs::absolute(dir / "demo/report.html").string();
  const std::string flags = " --headless=new --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 "
                            "--virtual-time-budget=2000 --user-data-dir=" + (dir / "profile").string();
  const std::string dom = (dir / "dom.html").string(), log = (dir / "chromium.log").string();
  ASSERT_EQ(std::system((chromium.string() + flags + " --dump-dom '" + url + "' > " + dom + " 2> " + log).c_str()), 0)
      << read_text(log);
  const std::string page = read_text(dom), messages = read_text(log);
  EXPECT_EQ(count_of(messages, "CONSOLE"), 0u) << messages;  // console.log/error and uncaught exceptions
  // the three plots, each with one circle per design point (8 in the demo)
  size_t plots = 0;
  for (size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) {
    const std::string svg = page.substr(at, page.find("</svg>", at) - at);
    if (svg.find("class=\"pt") == std::string::npos) continue;
    ++plots;
    EXPECT_EQ(count_of(svg, "<circle class=\"pt"), 8u) << "plot " << plots;
    EXPECT_GE(count_of(svg, "class=\"pt front"), 1u) << "plot " << plots;
  }
  EXPECT_EQ(plots, 3u);
  // a screenshot under the test's output
  const fs::path png = dir / "report.png";
  ASSERT_EQ(std::system((chromium.string() + flags + " --window-size=1280,1600 --screenshot=" + png.string() + " '" + url +
                         "' 2>> " + log).c_str()),
            0)
      << read_text(log);
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);  // a page with plots, not a blank one
}
