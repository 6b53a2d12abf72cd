package roles_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/backupkit/backupkit/internal/roles"
)

func TestAllows(t *testing.T) {
	all := []string{roles.Viewer, roles.Operator, roles.Admin}
	for i, role := range all {
		for j, need := range all {
			assert.Equal(t, i >= j, roles.Allows(role, need), "%s needs %s", role, need)
		}
		assert.False(t, roles.Allows("", role), "no role")
		assert.False(t, roles.Allows("Admin", role), "roles are case-sensitive")
	}
	assert.False(t, roles.Allows("", ""), "no role allows nothing, even what needs none")
}
