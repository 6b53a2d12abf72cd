module github.com/backupkit/backupkit

go 1.26.0
