// Package roles orders the roles of backupd's API tokens, for the packages
// that check them (api, web) without importing each other.
package roles

// The roles, from least to most allowed (config.RoleViewer, RoleOperator
// and RoleAdmin are the same strings).
const (
	Viewer   = "viewer"
	Operator = "operator"
	Admin    = "admin"
)

// Rank orders roles: 1 for Viewer, 2 for Operator, 3 for Admin, 0 for any
// other string (no role).
func Rank(role string) int {
	switch role {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether role may do what needs at least role need: it is
// a role, and ranks at least as high as need.
func Allows(role, need string) bool { return Rank(role) > 0 && Rank(role) >= Rank(need) }
