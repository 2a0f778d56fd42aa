const MAX_LABEL = 63

/**
 * The first label of a host name, made into one DNS label: the name is also the mDNS instance
 * name and a machine name in the lists masters write, so it must survive both.
 */
export function toDnsLabel (hostName: string): string {
  const label = (hostName.split('.')[0] ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, MAX_LABEL)
    .replace(/^-+|-+$/g, '')
  return label === '' ? 'host' : label
}
