package options

// argType mirrors the popt argument kinds rsync's table uses.
type argType uint8

const (
	argNone   argType = iota // POPT_ARG_NONE: a flag; with a destination it stores 1
	argVal                   // POPT_ARG_VAL: stores the row's val
	argBitSet                // POPT_BIT_SET: ORs the row's val in
	argString                // POPT_ARG_STRING
	argInt                   // POPT_ARG_INT (strtoll base 0, int range)
)

// ivar names an integer variable of the parser state (rsync's globals).
type ivar uint8

const (
	iNone ivar = iota
	iVerbose
	iMsgs2stderr
	iOutputMotd
	iDoStats
	iHumanReadable
	iDryRun
	iRecurse
	iAllowIncRecurse
	iXferDirs
	iPerms
	iExecutability
	iACLs
	iXattrs
	iMtimes
	iAtimes
	iOpenNoatime
	iCrtimes
	iOmitDirTimes
	iOmitLinkTimes
	iModifyWindow
	iAmRoot
	iUID
	iGID
	iDevices
	iCopyDevices
	iWriteDevices
	iSpecials
	iDropDevices
	iLinks
	iCopyLinks
	iCopyUnsafeLinks
	iSafeLinks
	iInsecureLinks
	iMungeLinks
	iCopyDirlinks
	iKeepDirlinks
	iHardLinks
	iRelative
	iImpliedDirs
	iIgnoreTimes
	iSizeOnly
	iOneFileSystem
	iUpdateOnly
	iIgnoreNonExisting
	iIgnoreExisting
	iSparse
	iPreallocate
	iInplace
	iAppendMode
	iDeleteDuring
	iDeleteMode
	iDeleteBefore
	iDeleteAfter
	iDeleteExcluded
	iMissingArgs
	iRemoveSourceFiles
	iForceDelete
	iIgnoreErrors
	iMaxDelete
	iCvsExclude
	iWholeFile
	iAlwaysChecksum
	iFuzzy
	iCompressLevel
	iCompressThreads
	iProgress
	iKeepPartial
	iDelayUpdates
	iPruneEmptyDirs
	iItemize
	iBwlimit
	iMakeBackups
	iListOnly
	iEolNulls
	iOldArgs
	iProtectArgs
	iTrustSender
	iNumericIDs
	iTimeout
	iConTimeout
	iFsync
	iAfHint
	iEightBit
	iMkpath
	iQsort
	iPort
	iBlockingIO
	iProtocol
	iChecksumSeed
	// state the table does not store into directly
	iQuiet
	iCompress
	iVersion
	iFCount
	iModifyWindowSet
	iServer
	iSender
	iWriteBatch
	iReadBatch
	iAltDestType
	iSawStderr
	nIvars
)

// svar names a string variable of the parser state.
type svar uint8

const (
	sNone svar = iota
	sChecksumChoice
	sCompressChoice
	sSkipCompress
	sPartialDir
	sLogFile
	sLogFileFormat
	sStdoutFormat
	sBwlimit
	sMaxSize
	sMinSize
	sMaxAlloc
	sBackupDir
	sSuffix
	sBatchName
	sFilesFrom
	sRsh
	sRsyncPath
	sTempDir
	sIconv
	sCopyAs
	sAddress
	sSockopts
	sPasswordFile
	sEarlyInput
	sOutbuf
	sConfineRoot
	sUsermap
	sGroupmap
	nSvars
)

// act is the action code popt hands back to rsync's switch.
type act uint8

const (
	aNone act = iota
	aHelp
	aVersion
	aVerbose
	aInfo
	aDebug
	aStderr
	aQuiet
	aHuman
	aArchive
	aACLs
	aXattrs
	aAtimes
	aModifyWindow
	aD
	aNoD
	aHardLinks
	aChmod
	aOneFS
	aMaxSize
	aMinSize
	aAppend
	aF
	aFilter
	aExclude
	aInclude
	aExcludeFrom
	aIncludeFrom
	aBlockSize
	aCompareDest
	aCopyDest
	aLinkDest
	aFuzzy
	aCompress
	aOldCompress
	aNewCompress
	aNoCompress
	aP
	aItemize
	aBwlimit
	aReadBatch
	aWriteBatch
	aOnlyWriteBatch
	aOldArgs
	aUsermap
	aGroupmap
	aChown
	aStopAfter
	aStopAt
	aNoIconv
	aRemoteOption
	aServer
	aSender
	aDaemon
)

// rowFlags qualify a table row.
type rowFlags uint8

const (
	// exactOnly rows are never matched by a "refuse options" wildcard.
	exactOnly rowFlags = 1 << iota
	// ignored rows are accepted but mean nothing on a daemon (client-side
	// options, or ones rsyncd overrides), so Options does not carry them.
	ignored
)

type row struct {
	long  string
	short byte
	typ   argType
	iv    ivar
	sv    svar
	val   int
	act   act
	flags rowFlags
}

// Address family values stored by --ipv4/--ipv6 (AF_INET, AF_INET6 on Linux).
const (
	afInet  = 2
	afInet6 = 10
)

// table is rsync 3.5.0's long_options, in its order (the order matters:
// refusal matching and the implied-refusal bookkeeping walk it in order).
var table = []row{
	{long: "help", typ: argNone, act: aHelp},
	{long: "version", short: 'V', typ: argNone, act: aVersion},
	{long: "verbose", short: 'v', typ: argNone, act: aVerbose},
	{long: "no-verbose", typ: argVal, iv: iVerbose, val: 0},
	{long: "no-v", typ: argVal, iv: iVerbose, val: 0},
	{long: "info", typ: argString, act: aInfo},
	{long: "debug", typ: argString, act: aDebug},
	{long: "stderr", typ: argString, act: aStderr},
	{long: "msgs2stderr", typ: argVal, iv: iMsgs2stderr, val: 1},
	{long: "no-msgs2stderr", typ: argVal, iv: iMsgs2stderr, val: 0},
	{long: "quiet", short: 'q', typ: argNone, act: aQuiet},
	{long: "motd", typ: argVal, iv: iOutputMotd, val: 1, flags: ignored},
	{long: "no-motd", typ: argVal, iv: iOutputMotd, val: 0, flags: ignored},
	{long: "stats", typ: argNone, iv: iDoStats},
	{long: "human-readable", short: 'h', typ: argNone, act: aHuman},
	{long: "no-human-readable", typ: argVal, iv: iHumanReadable, val: 0},
	{long: "no-h", typ: argVal, iv: iHumanReadable, val: 0},
	{long: "dry-run", short: 'n', typ: argNone, iv: iDryRun, flags: exactOnly},
	{long: "archive", short: 'a', typ: argNone, act: aArchive},
	{long: "recursive", short: 'r', typ: argVal, iv: iRecurse, val: 2},
	{long: "no-recursive", typ: argVal, iv: iRecurse, val: 0},
	{long: "no-r", typ: argVal, iv: iRecurse, val: 0},
	{long: "inc-recursive", typ: argVal, iv: iAllowIncRecurse, val: 1},
	{long: "no-inc-recursive", typ: argVal, iv: iAllowIncRecurse, val: 0},
	{long: "i-r", typ: argVal, iv: iAllowIncRecurse, val: 1},
	{long: "no-i-r", typ: argVal, iv: iAllowIncRecurse, val: 0},
	{long: "dirs", short: 'd', typ: argVal, iv: iXferDirs, val: 2},
	{long: "no-dirs", typ: argVal, iv: iXferDirs, val: 0},
	{long: "no-d", typ: argVal, iv: iXferDirs, val: 0},
	{long: "old-dirs", typ: argVal, iv: iXferDirs, val: 4},
	{long: "old-d", typ: argVal, iv: iXferDirs, val: 4},
	{long: "perms", short: 'p', typ: argVal, iv: iPerms, val: 1},
	{long: "no-perms", typ: argVal, iv: iPerms, val: 0},
	{long: "no-p", typ: argVal, iv: iPerms, val: 0},
	{long: "executability", short: 'E', typ: argNone, iv: iExecutability},
	{long: "acls", short: 'A', typ: argNone, act: aACLs},
	{long: "no-acls", typ: argVal, iv: iACLs, val: 0},
	{long: "no-A", typ: argVal, iv: iACLs, val: 0},
	{long: "xattrs", short: 'X', typ: argNone, act: aXattrs},
	{long: "no-xattrs", typ: argVal, iv: iXattrs, val: 0},
	{long: "no-X", typ: argVal, iv: iXattrs, val: 0},
	{long: "times", short: 't', typ: argVal, iv: iMtimes, val: 1},
	{long: "no-times", typ: argVal, iv: iMtimes, val: 0},
	{long: "no-t", typ: argVal, iv: iMtimes, val: 0},
	{long: "atimes", short: 'U', typ: argNone, act: aAtimes},
	{long: "no-atimes", typ: argVal, iv: iAtimes, val: 0},
	{long: "no-U", typ: argVal, iv: iAtimes, val: 0},
	{long: "open-noatime", typ: argVal, iv: iOpenNoatime, val: 1},
	{long: "no-open-noatime", typ: argVal, iv: iOpenNoatime, val: 0},
	{long: "crtimes", short: 'N', typ: argVal, iv: iCrtimes, val: 1},
	{long: "no-crtimes", typ: argVal, iv: iCrtimes, val: 0},
	{long: "no-N", typ: argVal, iv: iCrtimes, val: 0},
	{long: "omit-dir-times", short: 'O', typ: argVal, iv: iOmitDirTimes, val: 1},
	{long: "no-omit-dir-times", typ: argVal, iv: iOmitDirTimes, val: 0},
	{long: "no-O", typ: argVal, iv: iOmitDirTimes, val: 0},
	{long: "omit-link-times", short: 'J', typ: argVal, iv: iOmitLinkTimes, val: 1},
	{long: "no-omit-link-times", typ: argVal, iv: iOmitLinkTimes, val: 0},
	{long: "no-J", typ: argVal, iv: iOmitLinkTimes, val: 0},
	{long: "modify-window", short: '@', typ: argInt, iv: iModifyWindow, act: aModifyWindow},
	{long: "super", typ: argVal, iv: iAmRoot, val: 2},
	{long: "no-super", typ: argVal, iv: iAmRoot, val: 0},
	{long: "fake-super", typ: argVal, iv: iAmRoot, val: -1},
	{long: "owner", short: 'o', typ: argVal, iv: iUID, val: 1},
	{long: "no-owner", typ: argVal, iv: iUID, val: 0},
	{long: "no-o", typ: argVal, iv: iUID, val: 0},
	{long: "group", short: 'g', typ: argVal, iv: iGID, val: 1},
	{long: "no-group", typ: argVal, iv: iGID, val: 0},
	{long: "no-g", typ: argVal, iv: iGID, val: 0},
	{short: 'D', typ: argNone, act: aD},
	{long: "no-D", typ: argNone, act: aNoD},
	{long: "devices", typ: argVal, iv: iDevices, val: 1},
	{long: "no-devices", typ: argVal, iv: iDevices, val: 0},
	{long: "copy-devices", typ: argNone, iv: iCopyDevices, flags: exactOnly},
	{long: "write-devices", typ: argVal, iv: iWriteDevices, val: 1, flags: exactOnly},
	{long: "no-write-devices", typ: argVal, iv: iWriteDevices, val: 0},
	{long: "specials", typ: argVal, iv: iSpecials, val: 1},
	{long: "no-specials", typ: argVal, iv: iSpecials, val: 0},
	{long: "drop-D", typ: argVal, iv: iDropDevices, val: 1},
	{long: "no-drop-D", typ: argVal, iv: iDropDevices, val: 0},
	{long: "confine-root", typ: argString, sv: sConfineRoot, flags: ignored},
	{long: "links", short: 'l', typ: argVal, iv: iLinks, val: 1},
	{long: "no-links", typ: argVal, iv: iLinks, val: 0},
	{long: "no-l", typ: argVal, iv: iLinks, val: 0},
	{long: "copy-links", short: 'L', typ: argNone, iv: iCopyLinks},
	{long: "copy-unsafe-links", typ: argNone, iv: iCopyUnsafeLinks},
	{long: "safe-links", typ: argNone, iv: iSafeLinks},
	{long: "insecure-links", typ: argVal, iv: iInsecureLinks, val: 1, flags: ignored},
	{long: "no-insecure-links", typ: argVal, iv: iInsecureLinks, val: 0, flags: ignored},
	{long: "munge-links", typ: argVal, iv: iMungeLinks, val: 1, flags: ignored},
	{long: "no-munge-links", typ: argVal, iv: iMungeLinks, val: 0, flags: ignored},
	{long: "copy-dirlinks", short: 'k', typ: argNone, iv: iCopyDirlinks},
	{long: "keep-dirlinks", short: 'K', typ: argNone, iv: iKeepDirlinks},
	{long: "hard-links", short: 'H', typ: argNone, act: aHardLinks},
	{long: "no-hard-links", typ: argVal, iv: iHardLinks, val: 0},
	{long: "no-H", typ: argVal, iv: iHardLinks, val: 0},
	{long: "relative", short: 'R', typ: argVal, iv: iRelative, val: 1},
	{long: "no-relative", typ: argVal, iv: iRelative, val: 0},
	{long: "no-R", typ: argVal, iv: iRelative, val: 0},
	{long: "implied-dirs", typ: argVal, iv: iImpliedDirs, val: 1},
	{long: "no-implied-dirs", typ: argVal, iv: iImpliedDirs, val: 0},
	{long: "i-d", typ: argVal, iv: iImpliedDirs, val: 1},
	{long: "no-i-d", typ: argVal, iv: iImpliedDirs, val: 0},
	{long: "chmod", typ: argString, act: aChmod},
	{long: "ignore-times", short: 'I', typ: argNone, iv: iIgnoreTimes},
	{long: "size-only", typ: argNone, iv: iSizeOnly},
	{long: "one-file-system", short: 'x', typ: argNone, act: aOneFS},
	{long: "no-one-file-system", typ: argVal, iv: iOneFileSystem, val: 0},
	{long: "no-x", typ: argVal, iv: iOneFileSystem, val: 0},
	{long: "update", short: 'u', typ: argNone, iv: iUpdateOnly},
	{long: "existing", typ: argNone, iv: iIgnoreNonExisting},
	{long: "ignore-non-existing", typ: argNone, iv: iIgnoreNonExisting},
	{long: "ignore-existing", typ: argNone, iv: iIgnoreExisting},
	{long: "max-size", typ: argString, sv: sMaxSize, act: aMaxSize},
	{long: "min-size", typ: argString, sv: sMinSize, act: aMinSize},
	{long: "max-alloc", typ: argString, sv: sMaxAlloc},
	{long: "sparse", short: 'S', typ: argVal, iv: iSparse, val: 1},
	{long: "no-sparse", typ: argVal, iv: iSparse, val: 0},
	{long: "no-S", typ: argVal, iv: iSparse, val: 0},
	{long: "preallocate", typ: argNone, iv: iPreallocate},
	{long: "inplace", typ: argVal, iv: iInplace, val: 1},
	{long: "no-inplace", typ: argVal, iv: iInplace, val: 0},
	{long: "append", typ: argNone, act: aAppend},
	{long: "append-verify", typ: argVal, iv: iAppendMode, val: 2},
	{long: "no-append", typ: argVal, iv: iAppendMode, val: 0},
	{long: "del", typ: argNone, iv: iDeleteDuring},
	{long: "delete", typ: argNone, iv: iDeleteMode},
	{long: "delete-before", typ: argNone, iv: iDeleteBefore},
	{long: "delete-during", typ: argVal, iv: iDeleteDuring, val: 1},
	{long: "delete-delay", typ: argVal, iv: iDeleteDuring, val: 2},
	{long: "delete-after", typ: argNone, iv: iDeleteAfter},
	{long: "delete-excluded", typ: argNone, iv: iDeleteExcluded},
	{long: "delete-missing-args", typ: argBitSet, iv: iMissingArgs, val: 2},
	{long: "ignore-missing-args", typ: argBitSet, iv: iMissingArgs, val: 1},
	{long: "remove-sent-files", typ: argVal, iv: iRemoveSourceFiles, val: 2},
	{long: "remove-source-files", typ: argVal, iv: iRemoveSourceFiles, val: 1},
	{long: "force", typ: argVal, iv: iForceDelete, val: 1},
	{long: "no-force", typ: argVal, iv: iForceDelete, val: 0},
	{long: "ignore-errors", typ: argVal, iv: iIgnoreErrors, val: 1},
	{long: "no-ignore-errors", typ: argVal, iv: iIgnoreErrors, val: 0},
	{long: "max-delete", typ: argInt, iv: iMaxDelete},
	{short: 'F', typ: argNone, act: aF},
	{long: "filter", short: 'f', typ: argString, act: aFilter},
	{long: "exclude", typ: argString, act: aExclude},
	{long: "include", typ: argString, act: aInclude},
	{long: "exclude-from", typ: argString, act: aExcludeFrom},
	{long: "include-from", typ: argString, act: aIncludeFrom},
	{long: "cvs-exclude", short: 'C', typ: argNone, iv: iCvsExclude},
	{long: "whole-file", short: 'W', typ: argVal, iv: iWholeFile, val: 1},
	{long: "no-whole-file", typ: argVal, iv: iWholeFile, val: 0},
	{long: "no-W", typ: argVal, iv: iWholeFile, val: 0},
	{long: "checksum", short: 'c', typ: argVal, iv: iAlwaysChecksum, val: 1},
	{long: "no-checksum", typ: argVal, iv: iAlwaysChecksum, val: 0},
	{long: "no-c", typ: argVal, iv: iAlwaysChecksum, val: 0},
	{long: "checksum-choice", typ: argString, sv: sChecksumChoice},
	{long: "cc", typ: argString, sv: sChecksumChoice},
	{long: "block-size", short: 'B', typ: argString, act: aBlockSize},
	{long: "compare-dest", typ: argString, act: aCompareDest},
	{long: "copy-dest", typ: argString, act: aCopyDest},
	{long: "link-dest", typ: argString, act: aLinkDest},
	{long: "fuzzy", short: 'y', typ: argNone, act: aFuzzy},
	{long: "no-fuzzy", typ: argVal, iv: iFuzzy, val: 0},
	{long: "no-y", typ: argVal, iv: iFuzzy, val: 0},
	{long: "compress", short: 'z', typ: argNone, act: aCompress},
	{long: "old-compress", typ: argNone, act: aOldCompress},
	{long: "new-compress", typ: argNone, act: aNewCompress},
	{long: "no-compress", typ: argNone, act: aNoCompress},
	{long: "no-z", typ: argNone, act: aNoCompress},
	{long: "compress-choice", typ: argString, sv: sCompressChoice},
	{long: "zc", typ: argString, sv: sCompressChoice},
	{long: "skip-compress", typ: argString, sv: sSkipCompress},
	{long: "compress-level", typ: argInt, iv: iCompressLevel},
	{long: "zl", typ: argInt, iv: iCompressLevel},
	{long: "compress-threads", typ: argInt, iv: iCompressThreads},
	{long: "zt", typ: argInt, iv: iCompressThreads},
	{short: 'P', typ: argNone, act: aP},
	{long: "progress", typ: argVal, iv: iProgress, val: 1},
	{long: "no-progress", typ: argVal, iv: iProgress, val: 0},
	{long: "partial", typ: argVal, iv: iKeepPartial, val: 1},
	{long: "no-partial", typ: argVal, iv: iKeepPartial, val: 0},
	{long: "partial-dir", typ: argString, sv: sPartialDir},
	{long: "delay-updates", typ: argVal, iv: iDelayUpdates, val: 1},
	{long: "no-delay-updates", typ: argVal, iv: iDelayUpdates, val: 0},
	{long: "prune-empty-dirs", short: 'm', typ: argVal, iv: iPruneEmptyDirs, val: 1},
	{long: "no-prune-empty-dirs", typ: argVal, iv: iPruneEmptyDirs, val: 0},
	{long: "no-m", typ: argVal, iv: iPruneEmptyDirs, val: 0},
	{long: "log-file", typ: argString, sv: sLogFile, flags: ignored},
	{long: "log-file-format", typ: argString, sv: sLogFileFormat, flags: ignored},
	{long: "out-format", typ: argString, sv: sStdoutFormat},
	{long: "log-format", typ: argString, sv: sStdoutFormat, flags: exactOnly},
	{long: "itemize-changes", short: 'i', typ: argNone, act: aItemize},
	{long: "no-itemize-changes", typ: argVal, iv: iItemize, val: 0},
	{long: "no-i", typ: argVal, iv: iItemize, val: 0},
	{long: "bwlimit", typ: argString, sv: sBwlimit, act: aBwlimit},
	{long: "no-bwlimit", typ: argVal, iv: iBwlimit, val: 0},
	{long: "backup", short: 'b', typ: argVal, iv: iMakeBackups, val: 1},
	{long: "no-backup", typ: argVal, iv: iMakeBackups, val: 0},
	{long: "backup-dir", typ: argString, sv: sBackupDir},
	{long: "suffix", typ: argString, sv: sSuffix},
	{long: "list-only", typ: argVal, iv: iListOnly, val: 2},
	{long: "read-batch", typ: argString, sv: sBatchName, act: aReadBatch},
	{long: "write-batch", typ: argString, sv: sBatchName, act: aWriteBatch},
	{long: "only-write-batch", typ: argString, sv: sBatchName, act: aOnlyWriteBatch},
	{long: "files-from", typ: argString, sv: sFilesFrom},
	{long: "from0", short: '0', typ: argVal, iv: iEolNulls, val: 1, flags: exactOnly},
	{long: "no-from0", typ: argVal, iv: iEolNulls, val: 0},
	{long: "old-args", typ: argNone, act: aOldArgs},
	{long: "no-old-args", typ: argVal, iv: iOldArgs, val: 0},
	{long: "secluded-args", short: 's', typ: argVal, iv: iProtectArgs, val: 1, flags: exactOnly},
	{long: "no-secluded-args", typ: argVal, iv: iProtectArgs, val: 0},
	{long: "protect-args", typ: argVal, iv: iProtectArgs, val: 1},
	{long: "no-protect-args", typ: argVal, iv: iProtectArgs, val: 0},
	{long: "no-s", typ: argVal, iv: iProtectArgs, val: 0},
	{long: "trust-sender", typ: argVal, iv: iTrustSender, val: 1},
	{long: "numeric-ids", typ: argVal, iv: iNumericIDs, val: 1},
	{long: "no-numeric-ids", typ: argVal, iv: iNumericIDs, val: 0},
	{long: "usermap", typ: argString, act: aUsermap},
	{long: "groupmap", typ: argString, act: aGroupmap},
	{long: "chown", typ: argString, act: aChown},
	{long: "timeout", typ: argInt, iv: iTimeout},
	{long: "no-timeout", typ: argVal, iv: iTimeout, val: 0},
	{long: "contimeout", typ: argInt, iv: iConTimeout, flags: ignored},
	{long: "no-contimeout", typ: argVal, iv: iConTimeout, val: 0, flags: ignored},
	{long: "fsync", typ: argNone, iv: iFsync},
	{long: "stop-after", typ: argString, act: aStopAfter},
	{long: "time-limit", typ: argString, act: aStopAfter},
	{long: "stop-at", typ: argString, act: aStopAt},
	{long: "rsh", short: 'e', typ: argString, sv: sRsh, flags: exactOnly},
	{long: "rsync-path", typ: argString, sv: sRsyncPath, flags: ignored},
	{long: "temp-dir", short: 'T', typ: argString, sv: sTempDir},
	{long: "iconv", typ: argString, sv: sIconv, flags: exactOnly},
	{long: "no-iconv", typ: argNone, act: aNoIconv, flags: exactOnly},
	{long: "ipv4", short: '4', typ: argVal, iv: iAfHint, val: afInet, flags: ignored},
	{long: "ipv6", short: '6', typ: argVal, iv: iAfHint, val: afInet6, flags: ignored},
	{long: "8-bit-output", short: '8', typ: argVal, iv: iEightBit, val: 1},
	{long: "no-8-bit-output", typ: argVal, iv: iEightBit, val: 0},
	{long: "no-8", typ: argVal, iv: iEightBit, val: 0},
	{long: "mkpath", typ: argVal, iv: iMkpath, val: 1},
	{long: "no-mkpath", typ: argVal, iv: iMkpath, val: 0},
	{long: "qsort", typ: argNone, iv: iQsort},
	{long: "copy-as", typ: argString, sv: sCopyAs},
	{long: "address", typ: argString, sv: sAddress, flags: ignored},
	{long: "port", typ: argInt, iv: iPort, flags: ignored},
	{long: "sockopts", typ: argString, sv: sSockopts, flags: ignored},
	{long: "password-file", typ: argString, sv: sPasswordFile, flags: ignored},
	{long: "early-input", typ: argString, sv: sEarlyInput, flags: ignored},
	{long: "blocking-io", typ: argVal, iv: iBlockingIO, val: 1, flags: ignored},
	{long: "no-blocking-io", typ: argVal, iv: iBlockingIO, val: 0, flags: ignored},
	{long: "outbuf", typ: argString, sv: sOutbuf, flags: ignored},
	{long: "remote-option", short: 'M', typ: argString, act: aRemoteOption},
	{long: "protocol", typ: argInt, iv: iProtocol},
	{long: "checksum-seed", typ: argInt, iv: iChecksumSeed, flags: exactOnly},
	{long: "server", typ: argNone, act: aServer, flags: exactOnly},
	{long: "sender", typ: argNone, act: aSender, flags: exactOnly},
	// All of the following switch stock rsync into daemon-mode parsing,
	// which a daemon answers with "Attempt to hack rsync thwarted!".
	{long: "config", typ: argString, act: aDaemon},
	{long: "daemon", typ: argNone, act: aDaemon},
	{long: "dparam", typ: argString, act: aDaemon},
	{long: "detach", typ: argNone, act: aDaemon},
	{long: "no-detach", typ: argNone, act: aDaemon},
}

// byLong and byShort index the table.
var (
	byLong  = map[string]int{}
	byShort [256]int16
)

func init() {
	for i := range byShort {
		byShort[i] = -1
	}
	for i, r := range table {
		if r.long != "" {
			if _, dup := byLong[r.long]; !dup {
				byLong[r.long] = i
			}
		}
		if r.short != 0 && byShort[r.short] < 0 {
			byShort[r.short] = int16(i)
		}
	}
}

// dest identifies the variable a row stores into (0: none), for comparing
// rows the way rsync's same_refuse_action does.
func (r *row) dest() int {
	switch {
	case r.iv != iNone:
		return int(r.iv)
	case r.sv != sNone:
		return 1000 + int(r.sv)
	}
	return 0
}

// constAssign reports whether the row merely stores a constant, and which.
func (r *row) constAssign() (int, bool) {
	if r.dest() == 0 {
		return 0, false
	}
	switch {
	case r.typ == argVal:
		return r.val, true
	case r.typ == argNone && r.act == aNone:
		return 1, true
	}
	return 0, false
}

// sameAction reports whether two rows name the same capability (rsync's
// same_refuse_action): --del and --delete-during, --existing and
// --ignore-non-existing, --cc and --checksum-choice, ...
func sameAction(a, b *row) bool {
	av, aok := a.constAssign()
	bv, bok := b.constAssign()
	if aok && bok {
		return a.dest() == b.dest() && av == bv
	}
	if a.typ != b.typ || a.val != b.val || a.act != b.act {
		return false
	}
	if a.dest() != 0 {
		return a.dest() == b.dest()
	}
	return b.dest() == 0 && a.act != aNone
}

// Info describes one option of rsync's table.
type Info struct {
	Long   string // long name without "--"; "" for -D, -F and -P
	Short  byte   // one-letter name, 0 if none
	HasArg bool   // takes a value
	// Stored reports whether Options carries the option's effect. Options
	// with Stored false are accepted and parsed (their values are still
	// checked) but mean nothing to a daemon: client-side settings such as
	// --port, or ones stock rsyncd overrides (--munge-links, --confine-root).
	Stored bool
	// Wild reports whether a "refuse options" wildcard can match the
	// option; rsyncd protects some (--server, -e, -n, ...) from wildcards.
	Wild bool
}

// Known lists every option of rsync 3.5.0's table, in the table's order.
func Known() []Info {
	out := make([]Info, len(table))
	for i, r := range table {
		out[i] = Info{
			Long:   r.long,
			Short:  r.short,
			HasArg: r.typ == argString || r.typ == argInt,
			Stored: r.flags&ignored == 0,
			Wild:   r.flags&exactOnly == 0,
		}
	}
	return out
}
