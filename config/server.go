package config

// Server is the file's "server" block: backupd's HTTP API, web page and
// metrics. Its fields are filled in by the HTTP API issue.
type Server struct {
	// Listen is the address the HTTP server listens on.
	Listen string `yaml:"listen"`
}
