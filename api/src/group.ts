/** The API group and version every loraplane resource is served under. */
export const GROUP = 'loraplane.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
