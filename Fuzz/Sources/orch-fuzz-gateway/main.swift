import FuzzKit

// The targets inside OrchGateway (see Fuzz/run.sh and `make fuzz`).
FuzzMain.run([JSONRPCTarget.target, SSETarget.target, LinesTarget.target, BearerTarget.target])
