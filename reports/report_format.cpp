#include "reports/report_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace ssmsim::reports {

// Escapes text and attribute values for HTML: & < > " and '.
std::string esc(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&#39;"; break;
      default: r += c;
    }
  }
  return r;
}

// A Markdown table cell: no pipes, no line breaks.
std::string md_cell(const std::string& s) {
  std::string r;
  for (const char c : s) {
    if (c == '|') r += "\\|";
    else if (c == '\n' || c == '\r') r += ' ';
    else r += c;
  }
  return r;
}

// At most `max` bytes of `s` (cut at a character boundary of UTF-8), "…" when cut.
std::string shorten(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 1;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "…";
}

// An HTML id / anchor from a point id: characters other than [A-Za-z0-9_-] become '_'.
std::string anchor(const std::string& id) {
  std::string r = "pt-";
  for (const char c : id) r += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return r;
}

// About four significant digits without an exponent: 12.78, 0.004100, 12346.
std::string sig4(double v) {
  if (v == 0 || !std::isfinite(v)) return fmt::format("{}", v);
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const int decimals = std::clamp(3 - mag, 0, 12);
  return fmt::format("{:.{}f}", v, decimals);
}

std::string pct(double fraction) { return fmt::format("{:.2f}", 100.0 * fraction); }
std::string bits(double v) { return fmt::format("{:.0f}", v); }
std::string coord(double v) { return fmt::format("{:.2f}", v); }
// A raw value for a data attribute: round-trips the double.
std::string raw(double v) { return fmt::format("{}", v); }

// An axis tick label: 20k, 1.5M, 0.25, 300.
std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

std::string dash_or(const std::optional<double>& v, std::string (*f)(double)) { return v ? f(*v) : "—"; }

std::vector<std::string> ordered_keys(const std::vector<Entries>& rows, const std::vector<std::string>& known) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& k : known)
    for (const auto& row : rows)
      if (std::any_of(row.begin(), row.end(), [&](const auto& e) { return e.first == k; }) && seen.insert(k).second)
        keys.push_back(k);
  for (const auto& row : rows)
    for (const auto& e : row)
      if (seen.insert(e.first).second) keys.push_back(e.first);
  return keys;
}

}  // namespace ssmsim::reports
