#pragma once

namespace luna {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it starts afterwards.
// Call first thing in main(), before any thread exists.
void BlockStopSignals();

// Waits for SIGINT or SIGTERM (returns the signal number). SIGHUP calls `on_hup` and keeps waiting.
int WaitForStopSignal(void (*on_hup)() = nullptr);

}  // namespace luna
