package dev.tessera.coordinator;

import dev.tessera.coordinator.cli.TesseraCommand;

/** Entry point of the {@code tessera} command (see the {@code ./tessera} launcher). */
public final class Main {
  private Main() {
  }

  public static void main(String[] args) {
    System.exit(TesseraCommand.commandLine().execute(args));
  }
}
