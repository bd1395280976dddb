import ModelGraphCommands

// The commands live in a library so the option-parsing fuzzer can parse with them too.
ModelGraphCommand.main()
