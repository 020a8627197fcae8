import FuzzKit

// The targets that need only OrchJSON and OrchPolicy (see Fuzz/run.sh and `make fuzz`).
FuzzMain.run([JSONTarget.target, CompileTarget.target, EnvTarget.target, GlobTarget.target])
