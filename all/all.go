// Package all imports every reference adapter that backupkit ships, so that
// their URL schemes are registered: a program that opens sources, destinations
// and stores from URLs (as backupd does) blank-imports it:
//
//	import _ "github.com/backupkit/backupkit/all"
package all

import (
	_ "github.com/backupkit/backupkit/destination/gdrive" // gdrive:
	_ "github.com/backupkit/backupkit/destination/local"  // file:
	_ "github.com/backupkit/backupkit/destination/memory" // mem:
	_ "github.com/backupkit/backupkit/destination/s3"     // s3:
	_ "github.com/backupkit/backupkit/notify/email"       // smtp:
	_ "github.com/backupkit/backupkit/notify/slack"       // slack+https:
	_ "github.com/backupkit/backupkit/notify/webhook"     // webhook+https:
	_ "github.com/backupkit/backupkit/source/dir"         // dir:
	_ "github.com/backupkit/backupkit/source/mongodb"     // mongodb:, mongodb+srv:
	_ "github.com/backupkit/backupkit/source/mysql"       // mysql:
	_ "github.com/backupkit/backupkit/source/s3"          // s3:
	_ "github.com/backupkit/backupkit/store/sqlstore"     // sqlite:
)
