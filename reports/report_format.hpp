// The pieces the report's page and plots share: escaping for HTML and Markdown, the number formats
// of the page (one place, so a figure reads the same in a plot, a table and the summary), and a
// record's breakdown (energy per module, bits per component) as entries in column order.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssmsim::reports {

// Escapes text and attribute values for HTML: & < > " and '.
std::string esc(const std::string& s);
// A Markdown table cell: no pipes, no line breaks.
std::string md_cell(const std::string& s);
// At most `max` bytes of `s` (cut at a character boundary of UTF-8), "…" when cut.
std::string shorten(const std::string& s, size_t max);
// An HTML id / anchor from a point id: characters other than [A-Za-z0-9_-] become '_'.
std::string anchor(const std::string& id);

// About four significant digits without an exponent: 12.78, 0.004100, 12346.
std::string sig4(double v);
std::string pct(double fraction);  // a fraction as a percentage, two decimals
std::string bits(double v);        // a count of bits, no decimals
std::string coord(double v);       // an SVG coordinate, two decimals
// A raw value for a data attribute: round-trips the double.
std::string raw(double v);
// An axis tick label: 20k, 1.5M, 0.25, 300.
std::string tick_label(double v);
// f(*v), or "—" when there is no value.
std::string dash_or(const std::optional<double>& v, std::string (*f)(double));

using Entries = std::vector<std::pair<std::string, double>>;

// The finite entries of a breakdown in key order; none when the record has none.
template <typename V>
Entries entries(const std::optional<std::map<std::string, V>>& breakdown) {
  Entries out;
  if (breakdown)
    for (const auto& [k, v] : *breakdown) out.emplace_back(k, static_cast<double>(v));
  return out;
}

// Column order: the known names first in their order, then the others as they first appear.
std::vector<std::string> ordered_keys(const std::vector<Entries>& rows, const std::vector<std::string>& known);

}  // namespace ssmsim::reports
