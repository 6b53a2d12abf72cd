// Package packaging holds no Go code: it is the folder of backupd's
// packaging (Dockerfile, systemd unit, Kubernetes manifests), and its tests
// check those files: the Dockerfile's build step run as a plain command
// gives a static binary, the systemd unit passes systemd-analyze, and the
// Kubernetes manifests parse and agree with each other and with backupd's
// configuration rules.
package packaging
