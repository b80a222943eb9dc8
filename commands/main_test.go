package commands

import (
	"os"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
