package topology

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNames(t *testing.T) {
	assert.Equal(t, "sl-er.ce1", NamespaceName("er", "ce1"))
	assert.NoError(t, CheckLabName("er-2"))
	assert.Error(t, CheckLabName("er_2"))
	assert.Error(t, CheckLabName("2er"))
}
