// A container that cannot start yet: the pod stays Pending with state.waiting {reason, message},
// and the agent tries again later (as the kubelet's pod sync does) unless `retry` is false.
export class WaitingError extends Error {
  constructor(
    readonly reason: 'CreateContainerConfigError' | 'ContainerCreating' | 'ErrImagePull',
    message: string,
    readonly retry = true,
  ) {
    super(message);
    this.name = 'WaitingError';
  }
}
