/**
 * Tagged point-to-point transport with timeouts, collectives over a group of ranks, compression
 * codecs with error feedback, Kryo5 framing and traffic counters (issue 5).
 */
package dev.tessera.comm;
