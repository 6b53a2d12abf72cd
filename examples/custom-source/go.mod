module example.com/backupkit-notes-source

go 1.26.0

require (
	github.com/backupkit/backupkit v0.0.0
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

// A third party would require a released backupkit version instead.
replace github.com/backupkit/backupkit => ../..
