package protocol

// Implemented lists, by rsync's long option name (a letter for short-only
// options), the client options this daemon's engine carries out. The
// daemon front refuses every other option of rsync's table with a clear
// error rather than ignore it.
var Implemented = []string{
	// output and session
	"verbose", "quiet", "stats", "human-readable", "8-bit-output", "itemize-changes",
	"out-format", "log-format", "info", "debug", "msgs2stderr", "stderr", "progress",
	"protocol", "timeout", "contimeout", "bwlimit", "blocking-io", "checksum-seed",
	"dry-run", "list-only", "mkpath", "trust-sender", "old-args", "secluded-args", "protect-args",
	// what is transferred
	"archive", "recursive", "dirs", "relative", "implied-dirs", "links", "copy-links",
	"copy-unsafe-links", "safe-links", "copy-dirlinks", "hard-links", "perms", "times", "omit-dir-times", "omit-link-times",
	"owner", "group", "devices", "specials", "D", "numeric-ids",
	// which files and how
	"checksum", "checksum-choice", "block-size", "whole-file", "ignore-times", "size-only",
	"modify-window", "update", "existing", "ignore-non-existing", "ignore-existing",
	"compress", "compress-choice", "compress-level", "new-compress", "old-compress",
	"skip-compress",
	// how files are written
	"inplace", "partial", "partial-dir", "P",
	// backups
	"backup", "backup-dir", "suffix",
	// deletion
	"delete", "del", "delete-before", "delete-during", "delete-delay", "delete-after",
	"delete-excluded", "force", "max-delete", "ignore-errors",
	// lists of names, moves
	"files-from", "from0", "remove-source-files", "remove-sent-files",
	// reading
	"open-noatime",
}
