// hashbank: one binary, one subcommand per job. Parsing lives here; each command is a plain function.
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "node/cli/hash_command.h"
#include "node/cli/import_command.h"
#include "node/cli/identity_commands.h"
#include "node/cli/salt_commands.h"
#include "node/cli/match_file_command.h"
#include "node/cli/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"hashbank: a federated node for hashes of non-consensual intimate imagery"};
  app.set_version_flag("--version", std::string("hashbank ") + HASHBANK_VERSION);
  app.require_subcommand(1);

  hashbank::HashCommandOptions hash;
  CLI::App* hash_cmd = app.add_subcommand(
      "hash",
      "Hash images (PDQ in the reference tool's format, MD5, SHA-256) and videos (vPDQ in the vPDQ reference's "
      "format: frame,quality,pdq,timestamp). Nothing is stored.");
  hash_cmd->add_option("paths", hash.paths, "Image or video files, or directories (recursed); - reads stdin")->required();
  hash_cmd->add_flag("--dihedral", hash.dihedral,
                     "Print the 8 dihedral hashes: orig,rot90,rot180,rot270,flipx,flipy,flipp,flipm,quality,path");
  hash_cmd->add_flag("--json", hash.json, "One JSON object per line: path, pdq, quality, md5, sha256, width, height");
  hash_cmd->add_option("-j,--jobs", hash.jobs, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  hash_cmd->add_option("--max-file-bytes", hash.limits.max_file_bytes, "Refuse files larger than this")
      ->capture_default_str();
  hash_cmd->add_option("--max-pixels", hash.limits.max_pixels, "Refuse images whose header claims more pixels")
      ->capture_default_str();
  hash_cmd->add_option("--frame-interval", hash.video_frame_interval,
                       "Videos: seconds between hashed frames; 0 hashes every frame (the vPDQ reference's default)")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  hash_cmd->add_flag("--decode-every-frame", hash.decode_every_frame,
                     "Videos: decode the frames that are not hashed and that no frame refers to as well (slower; the "
                     "hashes are the same)");
  hash_cmd->add_option("--max-video-bytes", hash.video_limits.max_file_bytes, "Refuse video files larger than this")
      ->capture_default_str();
  hash_cmd->add_option("--max-video-seconds", hash.video_limits.max_duration_seconds, "Refuse longer videos")
      ->capture_default_str();

  hashbank::MatchFileOptions match_file;
  CLI::App* match_file_cmd = app.add_subcommand(
      "match-file", "Match a file of PDQ hashes against a bank file; prints query_index,bank_index,distance");
  match_file_cmd->add_option("--bank", match_file.bank_path, "Bank: one 64-hex PDQ hash per line")->required();
  match_file_cmd->add_option("--queries", match_file.queries_path, "Queries: one 64-hex PDQ hash per line")
      ->required();
  match_file_cmd->add_option("--max-distance", match_file.max_distance, "Hamming distance threshold, inclusive")
      ->capture_default_str();

  hashbank::NodeOverrides node;
  auto add_node_flags = [&node](CLI::App* cmd) {
    cmd->add_option("--config", node.config_path, "YAML config file (default: $HASHBANK_CONFIG, else built-in defaults)");
    cmd->add_option("--data-dir", node.data_dir, "Data directory (overrides node.data_dir)");
  };
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run a node: the member HTTPS API on embedded defaults or a config");
  add_node_flags(serve_cmd);
  serve_cmd->add_option("--listen", node.listen, "host:port of the member API (overrides api.listen)");

  std::string token_role, token_name;
  CLI::App* token_cmd = app.add_subcommand("token", "Bearer tokens");
  CLI::App* token_create = token_cmd->add_subcommand("create", "Make a token while the node is stopped");
  token_cmd->require_subcommand(1);
  add_node_flags(token_create);
  token_create->add_option("--role", token_role, "submit, query or admin")->required();
  token_create->add_option("--name", token_name, "The member service's name (appears in the audit log)")
      ->default_val("cli-token");

  std::string backup_dir;
  CLI::App* backup_cmd = app.add_subcommand("backup", "Consistent checkpoint of a stopped node's database");
  add_node_flags(backup_cmd);
  backup_cmd->add_option("dir", backup_dir, "Destination directory (must not exist)")->required();

  std::string ca_dir, ca_name = "hashbank federation CA";
  CLI::App* ca_cmd = app.add_subcommand("ca", "The federation certificate authority");
  ca_cmd->require_subcommand(1);
  CLI::App* ca_init = ca_cmd->add_subcommand("init", "Create a federation CA and federation salt");
  ca_init->add_option("--dir", ca_dir, "Where to write ca.pem, ca.key and salt.json")->required();
  ca_init->add_option("--name", ca_name, "The CA's common name")->capture_default_str();

  hashbank::NodeInitOptions node_init;
  CLI::App* node_cmd = app.add_subcommand("node", "A node's identity");
  node_cmd->require_subcommand(1);
  CLI::App* node_init_cmd = node_cmd->add_subcommand("init", "Create a node's keys and CA-signed certificate");
  node_init_cmd->add_option("--ca", node_init.ca_dir, "Directory made by hashbank ca init")->required();
  node_init_cmd->add_option("--id", node_init.id, "The node id (1-64 of a-z 0-9 . _ -)")->required();
  node_init_cmd->add_option("--host", node_init.hosts, "A host name peers reach it by (repeatable)");
  node_init_cmd->add_option("--ip", node_init.ips, "An IP address peers reach it by (repeatable)");
  node_init_cmd->add_option("--out", node_init.out_dir, "The node's data directory to create")->required();

  std::string salt_current, salt_out, salt_new;
  CLI::App* salt_cmd = app.add_subcommand("salt", "Rotate the federation salt (docs/operators.md)");
  salt_cmd->require_subcommand(1);
  CLI::App* salt_rotate = salt_cmd->add_subcommand("rotate", "Make the next federation salt from the current one");
  salt_rotate->add_option("--salt", salt_current, "The federation's current salt.json")->required();
  salt_rotate->add_option("--out", salt_out, "Where to write the next salt (must not exist)")->required();
  CLI::App* salt_apply = salt_cmd->add_subcommand(
      "apply", "On a stopped node: re-publish its own signals under the next salt and install it (resumable)");
  add_node_flags(salt_apply);
  salt_apply->add_option("new_salt", salt_new, "The next salt, from hashbank salt rotate")->required();

  CLI::App* keys_cmd = app.add_subcommand("keys", "This node's keys");
  keys_cmd->require_subcommand(1);
  CLI::App* keys_show = keys_cmd->add_subcommand("show", "Print the node's public card");
  add_node_flags(keys_show);

  std::string verify_dir;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "Check logs end to end: every log in a (stopped) node's data directory, or every member's log "
                "served by a node's federation listener (https://host:port, with --config of a member node)");
  verify_cmd->add_option("data_dir", verify_dir, "A node's data directory, or https://host:port")->required();
  verify_cmd->add_option("--config", node.config_path, "With a URL: this node's config (members' keys, certificate)");

  hashbank::ImportCommandOptions import_opts;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "Import a hash list into a stopped node's bank (lines, pdq, te-csv, stopncii); resumable");
  add_node_flags(import_cmd);
  import_cmd->add_option("file", import_opts.file, "The hash list")->required();
  import_cmd->add_option("--bank", import_opts.bank, "The bank (default DEFAULT)");
  import_cmd->add_option("--format", import_opts.format, "auto, lines, pdq, te-csv or stopncii")->default_val("auto");
  import_cmd->add_option("--type", import_opts.type, "lines format: pdq, md5 or sha256 (default by length: 32 hex md5, 64 pdq)");
  import_cmd->add_option("--label", import_opts.labels, "A label for every imported signal (repeatable)");
  import_cmd->add_flag("--create-bank", import_opts.create_bank, "Create the bank if this node has none of that name");
  import_cmd->add_flag("--restart", import_opts.restart, "Ignore the recorded progress of an earlier run");
  std::string export_bank;
  CLI::App* export_cmd = app.add_subcommand("export", "Print a stopped node's bank as ThreatExchange CSV (PDQ)");
  add_node_flags(export_cmd);
  export_cmd->add_option("--bank", export_bank, "The bank (default DEFAULT)");

  CLI11_PARSE(app, argc, argv);

  if (ca_init->parsed()) return hashbank::RunCaInitCommand(ca_dir, ca_name, std::cout, std::cerr);
  if (node_init_cmd->parsed()) return hashbank::RunNodeInitCommand(node_init, std::cout, std::cerr);
  if (keys_show->parsed()) return hashbank::RunKeysShowCommand(node, std::cout, std::cerr);
  if (salt_rotate->parsed()) return hashbank::RunSaltRotateCommand(salt_current, salt_out, std::cout, std::cerr);
  if (salt_apply->parsed()) return hashbank::RunSaltApplyCommand(node, salt_new, std::cout, std::cerr);
  if (verify_cmd->parsed()) return hashbank::RunVerifyCommand(verify_dir, node, std::cout, std::cerr);

  if (serve_cmd->parsed()) return hashbank::RunServeCommand(node, std::cout, std::cerr);
  if (token_create->parsed()) return hashbank::RunTokenCreateCommand(node, token_role, token_name, std::cout, std::cerr);
  if (backup_cmd->parsed()) return hashbank::RunBackupCommand(node, backup_dir, std::cout, std::cerr);
  if (import_cmd->parsed()) return hashbank::RunImportCommand(node, import_opts, std::cout, std::cerr);
  if (export_cmd->parsed()) return hashbank::RunExportCommand(node, export_bank, std::cout, std::cerr);

  if (hash_cmd->parsed()) {
    hash.progress = isatty(STDERR_FILENO) == 1;  // a progress line for long videos, on a terminal only
    return hashbank::RunHashCommand(hash, std::cout, std::cerr);
  }
  if (match_file_cmd->parsed()) return hashbank::RunMatchFileCommand(match_file, std::cout, std::cerr);
  return 2;
}
