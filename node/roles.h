// Roles and actors: who is calling. A token carries one role; the actor's name (the token's name) appears in
// the audit log. Plain values; no thread-safety concerns.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hashbank {

enum class Role { kSubmit, kQuery, kAdmin };
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

struct Actor {
  std::string name;  // the token's name (a member service); appears in the audit log
  Role role = Role::kQuery;
};

}  // namespace hashbank
