// A promise-returning AsyncWorker (sharp's baton pattern): Run executes off the event loop and never
// touches JS; an lp::Error or any std::exception becomes a rejected promise with its message.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <string>

namespace lp::addon {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Run = std::function<void()>;
  using Resolve = std::function<Napi::Value(Napi::Env)>;

  // Queues `run` on the libuv pool; `resolve` builds the promise's value back on the JS thread.
  static Napi::Promise Start(Napi::Env env, const char* name, Run run, Resolve resolve,
                             std::function<void()> done = {}) {
    auto* w = new PromiseWorker(env, name, std::move(run), std::move(resolve), std::move(done));
    auto promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 private:
  PromiseWorker(Napi::Env env, const char* name, Run run, Resolve resolve, std::function<void()> done)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        run_(std::move(run)),
        resolve_(std::move(resolve)),
        done_(std::move(done)) {}

  void Execute() override {
    try {
      run_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }

  void OnOK() override {
    if (done_) done_();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(resolve_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    if (done_) done_();
    deferred_.Reject(e.Value());
  }

  Napi::Promise::Deferred deferred_;
  Run run_;
  Resolve resolve_;
  std::function<void()> done_;
};

}  // namespace lp::addon
