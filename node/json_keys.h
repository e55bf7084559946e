// Duplicate keys in a JSON text. Boost.JSON's DOM parser keeps one of two equal keys silently, so a body such as
// {"labels":["a"],"labels":["b"]} would be read as whichever it kept; the member API refuses such bodies
// instead. FindDuplicateKey runs Boost.JSON's SAX parser (basic_parser, the same grammar as json::parse) over
// the text and compares keys after unescaping ("a" and "\u0061" are the same key).
//
// Stateless; thread-safe. Errors: none — malformed JSON is not this function's to report (it returns nullopt
// and the DOM parse that follows names the error).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hashbank {

// The first key that appears twice in one object (at most 64 bytes, cut at a UTF-8 character boundary), or
// nullopt if there is none or the text is not JSON. Nesting beyond `max_depth` stops the scan (the DOM parse
// refuses it).
std::optional<std::string> FindDuplicateKey(std::string_view text, int max_depth = 16);

}  // namespace hashbank
