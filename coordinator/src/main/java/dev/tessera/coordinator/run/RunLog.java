package dev.tessera.coordinator.run;

import java.nio.file.Path;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.FileAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.layout.PatternLayout;

/**
 * Sends the log to {@code train.log} in the run directory while a run lasts. Step lines go to the
 * logger {@value #STEPS}: always to the file, and to the console too when no progress bar shows them.
 */
final class RunLog implements AutoCloseable {
  static final String STEPS = "tessera.steps";

  private final LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
  private final FileAppender file;

  RunLog(Path logFile, boolean stepsToConsole) {
    Configuration config = ctx.getConfiguration();
    PatternLayout layout = PatternLayout.newBuilder().withConfiguration(config)
        .withPattern("%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level %c{1} - %msg%n").build();
    file = FileAppender.newBuilder().setName("run-file").withFileName(logFile.toString()).withAppend(true)
        .setLayout(layout).setConfiguration(config).build();
    file.start();
    config.addAppender(file);
    config.getRootLogger().addAppender(file, null, null);
    LoggerConfig steps = new LoggerConfig(STEPS, org.apache.logging.log4j.Level.INFO, false);
    steps.addAppender(file, null, null);
    Appender console = config.getAppender("stderr");
    if (stepsToConsole && console != null) {
      steps.addAppender(console, null, null);
    }
    config.addLogger(STEPS, steps);
    ctx.updateLoggers();
  }

  @Override
  public void close() {
    Configuration config = ctx.getConfiguration();
    config.getRootLogger().removeAppender(file.getName());
    config.removeLogger(STEPS);
    ctx.updateLoggers();
    file.stop();
  }
}
