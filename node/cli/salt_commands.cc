#include "node/cli/salt_commands.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "crypto/federation_salt.h"
#include "crypto/pem_file.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "node/salt_rotation.h"

namespace hashbank {
namespace {

int Fail(std::ostream& err, std::string_view command, const absl::Status& s) {
  err << "hashbank salt " << command << ": " << s.message() << '\n';
  return 1;
}

absl::StatusOr<FederationSalt> ReadSaltFile(const std::string& path) {
  auto text = ReadTextFile(path, 64 * 1024);
  if (!text.ok()) return text.status();
  return FederationSalt::FromFileJson(*text, path);
}

}  // namespace

int RunSaltRotateCommand(const std::string& current_path, const std::string& out_path, std::ostream& out,
                         std::ostream& err) {
  auto current = ReadSaltFile(current_path);
  if (!current.ok()) return Fail(err, "rotate", current.status());
  auto next = FederationSalt::Generate(FederationSalt::RandomId());
  if (!next.ok()) return Fail(err, "rotate", next.status());
  const Salter current_salter(*current);
  next->exact_chain = current->exact_chain;
  next->exact_chain.push_back(current_salter.exact_chain_link());
  if (absl::Status s = WritePemFile(out_path, next->ToFileJson(), 0600, IfFileExists::kFail); !s.ok()) {
    return Fail(err, "rotate", s);
  }
  out << "next salt: id " << next->id << ", check value " << next->CheckValue() << ", written to " << out_path
      << " (secret, 0600; it follows " << current->id << ")\n"
      << "hand it to every member out of band; each runs `hashbank salt apply " << out_path
      << "` with its node stopped, then starts it (docs/operators.md, \"Rotating the salt\")\n";
  return 0;
}

int RunSaltApplyCommand(const NodeOverrides& overrides, const std::string& new_salt_path, std::ostream& out,
                        std::ostream& err) {
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return Fail(err, "apply", config.status());
  if (absl::Status s = RequireExistingNode(*config); !s.ok()) return Fail(err, "apply", s);
  auto key = ReadSigningKeyFile(SigningKeyPath(*config));
  if (!key.ok()) return Fail(err, "apply", key.status());
  config->node.id = key->node_id;
  auto next = ReadSaltFile(new_salt_path);
  if (!next.ok()) return Fail(err, "apply", next.status());
  auto current = LoadOrCreateSalt(*config, err);
  if (!current.ok()) return Fail(err, "apply", current.status());
  if ((*current)->check_value() == next->CheckValue()) {
    // The file is already the new salt: so must the database be (a file copied in by hand is not a rotation).
    auto bank = OpenBank(*config, std::move(*current));
    if (!bank.ok()) {
      return Fail(err, "apply", absl::FailedPreconditionError(absl::StrCat(
                                    "the node's salt file is already ", next->id, " but its database is not (",
                                    bank.status().message(), "); put the old salt file back and run apply again")));
    }
    auto target = (*bank)->GetStateRow(kSaltRotationTargetRow);
    if (!target.ok() || target->has_value()) {
      return Fail(err, "apply", absl::FailedPreconditionError("a rotation is half applied; put the old salt file back and run apply again"));
    }
    out << "this node's salt is already " << next->id << "\n";
    return 0;
  }
  auto to = std::make_unique<Salter>(*next);
  if (!to->Follows(**current)) {
    return Fail(err, "apply", absl::FailedPreconditionError(absl::StrCat(
                                  new_salt_path, " (salt ", next->id, ") does not follow this node's salt ",
                                  (*current)->salt_id(), ": make it with `hashbank salt rotate` from that salt")));
  }
  const Salter& from = **current;
  {
    auto bank_salter = LoadOrCreateSalt(*config, err);
    if (!bank_salter.ok()) return Fail(err, "apply", bank_salter.status());
    auto bank = OpenBank(*config, std::move(*bank_salter));
    SaltRotationReport report;
    if (bank.ok()) {
      auto r = ApplySaltRotation(bank->get(), from, *to);
      if (!r.ok()) return Fail(err, "apply", r.status());
      report = *r;
    } else {
      // An earlier run finished the database (it records the new salt) but did not install the file.
      auto on_new = OpenBank(*config, std::make_unique<Salter>(*next));
      if (!on_new.ok()) return Fail(err, "apply", bank.status());
      out << "the database was already moved to salt " << next->id << " by an earlier run\n";
    }
    if (bank.ok()) {
      out << "re-published " << report.republished << " of this node's signals under salt " << next->id << "; "
          << report.watch_entries << " watch-list entries re-salted, " << report.cases << " case records updated\n";
    }
  }
  if (absl::Status s = WritePemFile(config->SaltFilePath(), next->ToFileJson(), 0600); !s.ok()) {
    return Fail(err, "apply", s);
  }
  out << "installed " << next->id << " as " << config->SaltFilePath()
      << "; start the node. Members still on " << from.salt_id()
      << " show salt_mismatch until they apply it too; delete every copy of the old salt once all have.\n";
  return 0;
}

}  // namespace hashbank
